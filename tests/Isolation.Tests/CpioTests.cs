using System.Diagnostics;
using System.Text;
using CsCheck;
using Sandbox.Isolation.MicroVm.Initramfs;

namespace Sandbox.Isolation.Tests;

/// <summary>The initramfs writer: random trees round-trip through our reader and through GNU cpio, the tool the
/// format is defined by; bad names and truncated archives are refused.</summary>
public sealed class CpioTests
{
    private sealed record Node(string Name, bool IsDirectory, byte[] Data, int Mode);

    private static readonly Gen<string> s_segment = Gen.String[Gen.Char["abcdefghijklmnopqrstuvwxyz0123456789_-."], 1, 12]
        .Where(s => s is not "." and not "..");

    /// <summary>A random tree: directories listed before what they contain, unique paths.</summary>
    private static readonly Gen<List<Node>> s_tree = Gen.Select(s_segment.Array[1, 4], Gen.Byte.Array[0, 600], Gen.Int[0, 0x1FF]).List[1, 25]
        .Select(items =>
        {
            var nodes = new List<Node>();
            var seen = new HashSet<string>();
            foreach (var (segments, data, mode) in items)
            {
                for (var i = 1; i <= segments.Length; i++)
                {
                    var path = string.Join('/', segments.Take(i));
                    var isDir = i < segments.Length;
                    if (seen.Contains(path))
                    {
                        if (!isDir) break; // a file would collide with an existing path: skip it
                        if (nodes.First(n => n.Name == path) is { IsDirectory: false }) break;
                        continue;
                    }
                    seen.Add(path);
                    nodes.Add(new Node(path, isDir, isDir ? [] : data, isDir ? 0x1ED : (mode | 0x180)));
                }
            }
            return nodes;
        });

    private static byte[] Write(List<Node> nodes)
    {
        var stream = new MemoryStream();
        var writer = new CpioWriter(stream);
        foreach (var n in nodes)
        {
            if (n.IsDirectory) writer.AddDirectory(n.Name);
            else writer.AddFile(n.Name, n.Data, n.Mode);
        }
        writer.Finish();
        return stream.ToArray();
    }

    [Fact]
    public void Random_trees_round_trip_through_our_reader()
    {
        s_tree.Sample(nodes =>
        {
            var entries = CpioReader.Read(Write(nodes));
            Assert.Equal(nodes.Select(n => n.Name), entries.Select(e => e.Name));
            foreach (var (n, e) in nodes.Zip(entries))
            {
                Assert.Equal(n.Data, e.Data);
                Assert.Equal(n.IsDirectory ? CpioWriter.S_IFDIR : CpioWriter.S_IFREG, e.Mode & 0xF000);
            }
        }, iter: 200);
    }

    [Fact]
    public void Random_trees_unpack_identically_with_gnu_cpio()
    {
        Assert.True(File.Exists("/usr/bin/cpio"), "GNU cpio is needed (scripts/bootstrap.sh installs it)");
        s_tree.Sample(nodes =>
        {
            var dir = Directory.CreateTempSubdirectory("cpio-");
            try
            {
                var psi = new ProcessStartInfo("/usr/bin/cpio", ["-i", "--quiet", "--no-absolute-filenames", "-d"])
                {
                    WorkingDirectory = dir.FullName,
                    RedirectStandardInput = true,
                    RedirectStandardError = true,
                };
                using var cpio = Process.Start(psi)!;
                cpio.StandardInput.BaseStream.Write(Write(nodes));
                cpio.StandardInput.Close();
                var stderr = cpio.StandardError.ReadToEnd();
                cpio.WaitForExit();
                Assert.True(cpio.ExitCode == 0, stderr);
                foreach (var n in nodes)
                {
                    var path = Path.Combine(dir.FullName, n.Name);
                    if (n.IsDirectory)
                        Assert.True(Directory.Exists(path), n.Name);
                    else
                        Assert.Equal(n.Data, File.ReadAllBytes(path));
                }
            }
            finally
            {
                foreach (var d in Directory.EnumerateDirectories(dir.FullName, "*", SearchOption.AllDirectories))
                    File.SetUnixFileMode(d, (UnixFileMode)0x1FF);
                dir.Delete(true);
            }
        }, iter: 15);
    }

    [Theory]
    [InlineData("/abs")]
    [InlineData("a/../b")]
    [InlineData("a//b")]
    [InlineData("")]
    [InlineData("TRAILER!!!")]
    public void Unsafe_names_are_refused(string name)
    {
        var writer = new CpioWriter(new MemoryStream());
        Assert.Throws<ArgumentException>(() => writer.AddFile(name, "x"u8));
    }

    [Fact]
    public void Truncated_or_garbage_archives_are_refused_with_the_offset()
    {
        var good = Write([new Node("f", false, Encoding.ASCII.GetBytes("hello"), 0x1A4)]);
        Assert.Contains("truncated", Assert.Throws<InvalidDataException>(() => CpioReader.Read(good.AsSpan(0, 50))).Message);
        var bad = (byte[])good.Clone();
        bad[0] = (byte)'9';
        Assert.Contains("bad magic at offset 0", Assert.Throws<InvalidDataException>(() => CpioReader.Read(bad)).Message);
        Gen.Byte.Array[0, 400].Sample(bytes =>
        {
            try { CpioReader.Read(bytes); }
            catch (InvalidDataException) { }
        }, iter: 500);
    }
}
