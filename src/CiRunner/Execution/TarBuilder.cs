using System.Formats.Tar;
using System.Text;

namespace Sandbox.CiRunner.Execution;

/// <summary>A small tar made in memory: the few directories and files a job or a step needs created at once (the
/// script, its empty environment files), one import instead of one call per file.</summary>
public sealed class TarBuilder
{
    private readonly List<(string Name, byte[]? Content, UnixFileMode Mode)> _entries = [];

    public TarBuilder Directory(string name)
    {
        _entries.Add((name, null, (UnixFileMode)0b111_101_101));
        return this;
    }

    public TarBuilder File(string name, string content, UnixFileMode mode = (UnixFileMode)0b110_100_100)
    {
        _entries.Add((name, Encoding.UTF8.GetBytes(content), mode));
        return this;
    }

    public MemoryStream Build()
    {
        var ms = new MemoryStream();
        using (var writer = new TarWriter(ms, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var (name, content, mode) in _entries)
            {
                var entry = new PaxTarEntry(content is null ? TarEntryType.Directory : TarEntryType.RegularFile, name) { Mode = mode };
                if (content is not null) entry.DataStream = new MemoryStream(content);
                writer.WriteEntry(entry);
            }
        }
        ms.Position = 0;
        return ms;
    }
}
