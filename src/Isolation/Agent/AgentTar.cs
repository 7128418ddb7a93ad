using System.Formats.Tar;

namespace Sandbox.Isolation.Agent;

/// <summary>A directory of a sandbox as a tar stream (PAX), out and in, through the agent's confined file calls
/// (ListDir / ReadFile / MakeDir / WriteFile): one file chunk in host memory at a time, whatever the sizes.</summary>
internal static class AgentTar
{
    /// <summary>How deep an export descends: a guard against a directory tree built to exhaust the host.</summary>
    public const int MaxDepth = 128;

    /// <summary>Writes <paramref name="directory"/>'s tree to <paramref name="destination"/>: directories, regular files
    /// and symlinks (as links, never followed); other entries (fifos, sockets, devices) are left out. Names are relative
    /// to <paramref name="directory"/>.</summary>
    public static async Task ExportAsync(AgentChannel agent, string directory, Stream destination, CancellationToken cancellationToken)
    {
        AgentFiles.CheckPath(directory);
        ArgumentNullException.ThrowIfNull(destination);
        await using var writer = new TarWriter(destination, TarEntryFormat.Pax, leaveOpen: true);
        await ExportDirectoryAsync(agent, writer, directory.TrimEnd('/'), "", 0, cancellationToken).ConfigureAwait(false);
    }

    private static async Task ExportDirectoryAsync(AgentChannel agent, TarWriter writer, string path, string prefix, int depth, CancellationToken cancellationToken)
    {
        if (depth > MaxDepth)
            throw new SandboxException(SandboxErrorCode.ResourceExhausted, $"'{path}' is more than {MaxDepth} directories deep");
        var listing = await AgentFiles.ListAsync(agent, path.Length == 0 ? "/" : path, AgentClient.MaxDirEntries, cancellationToken).ConfigureAwait(false);
        if (listing.Truncated)
            throw new SandboxException(SandboxErrorCode.ResourceExhausted, $"directory '{path}' holds more than {AgentClient.MaxDirEntries} entries");
        foreach (var entry in listing.Entries)
        {
            var full = path + "/" + entry.Name;
            var name = prefix + entry.Name;
            switch (entry.Kind)
            {
                case SandboxFileKind.Directory:
                    await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, name + "/")
                    {
                        Mode = (UnixFileMode)entry.Mode,
                        ModificationTime = entry.Modified,
                    }, cancellationToken).ConfigureAwait(false);
                    await ExportDirectoryAsync(agent, writer, full, name + "/", depth + 1, cancellationToken).ConfigureAwait(false);
                    break;
                case SandboxFileKind.File:
                    await using (var data = new AgentFileReadStream(agent, full, entry.Size))
                    {
                        await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, name)
                        {
                            Mode = (UnixFileMode)entry.Mode,
                            ModificationTime = entry.Modified,
                            DataStream = data,
                        }, cancellationToken).ConfigureAwait(false);
                    }
                    break;
                case SandboxFileKind.Symlink when entry.SymlinkTarget is { } target:
                    await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.SymbolicLink, name)
                    {
                        LinkName = target,
                        ModificationTime = entry.Modified,
                    }, cancellationToken).ConfigureAwait(false);
                    break;
            }
        }
    }

    /// <summary>Unpacks a tar stream into <paramref name="directory"/> (created if missing; its parent must exist):
    /// directories and regular files only, each name relative and free of '..' (anything else is refused, naming the
    /// entry). Missing parent directories are created. Files are written as the workload's user, confined like
    /// WriteFile: a link planted in the sandbox cannot redirect them outside it.</summary>
    public static async Task ImportAsync(AgentChannel agent, string directory, Stream source, CancellationToken cancellationToken)
    {
        AgentFiles.CheckPath(directory);
        ArgumentNullException.ThrowIfNull(source);
        var root = directory.TrimEnd('/');
        if (root.Length > 0)
            await AgentFiles.MakeDirAsync(agent, root, 0, existOk: true, cancellationToken).ConfigureAwait(false);
        var made = new HashSet<string>(StringComparer.Ordinal) { root };
        await using var reader = new TarReader(source, leaveOpen: true);
        while (await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
        {
            if (entry.EntryType is TarEntryType.GlobalExtendedAttributes)
                continue;
            var relative = RelativeName(entry.Name);
            if (relative.Length == 0)
                continue; // "./": the directory itself
            var path = root + "/" + relative;
            await MakeParentsAsync(agent, root, relative, made, cancellationToken).ConfigureAwait(false);
            var mode = (int)entry.Mode & 0x1ff;
            switch (entry.EntryType)
            {
                case TarEntryType.Directory:
                    if (made.Add(path))
                        await AgentFiles.MakeDirAsync(agent, path, mode, existOk: true, cancellationToken).ConfigureAwait(false);
                    break;
                case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                    await AgentFiles.WriteFromAsync(agent, path, entry.DataStream ?? Stream.Null, mode, cancellationToken).ConfigureAwait(false);
                    break;
                default:
                    throw new SandboxException(SandboxErrorCode.InvalidArgument,
                        $"tar entry '{entry.Name}' is a {entry.EntryType}; only directories and regular files can be unpacked into a sandbox");
            }
        }
    }

    /// <summary>The entry's name without "./" prefixes and trailing '/'; refuses absolute names, '..' and NUL.</summary>
    internal static string RelativeName(string name)
    {
        if (name.Contains('\0') || name.StartsWith('/'))
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"tar entry '{name}': names must be relative and free of NUL");
        var parts = name.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".").ToArray();
        if (parts.Contains(".."))
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"tar entry '{name}': '..' is not allowed in names");
        return string.Join('/', parts);
    }

    private static async Task MakeParentsAsync(AgentChannel agent, string root, string relative, HashSet<string> made, CancellationToken cancellationToken)
    {
        var parts = relative.Split('/');
        var path = root;
        for (var i = 0; i < parts.Length - 1; i++)
        {
            path += "/" + parts[i];
            if (made.Add(path))
                await AgentFiles.MakeDirAsync(agent, path, 0, existOk: true, cancellationToken).ConfigureAwait(false);
        }
    }
}
