using Sandbox.Isolation.MicroVm;
using Microsoft.Win32.SafeHandles;

namespace Sandbox.Isolation.Tests;

/// <summary>A template's RAM as clones get it: a sealed memfd with the file's contents that nobody can write
/// (tests/E2E checks that a clone's QEMU maps it and has no path to the file).</summary>
public sealed class TemplateRamTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sandbox-template-ram-test-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void The_memfd_holds_the_files_data_and_refuses_every_write()
    {
        var template = new SnapshotTemplate("k", _dir);
        // A sparse RAM file: data at the start and at 5 MiB, holes between.
        using (var f = File.OpenHandle(template.RamPath, FileMode.CreateNew, FileAccess.Write))
        {
            RandomAccess.SetLength(f, 8 << 20);
            RandomAccess.Write(f, "start"u8, 0);
            RandomAccess.Write(f, "middle"u8, 5 << 20);
        }
        var memfd = TemplateRam.Get(template);
        try
        {
            Assert.Same(memfd, TemplateRam.Get(template)); // one per template file per process
            using var view = File.OpenHandle($"/proc/self/fd/{memfd.Fd}", FileMode.Open, FileAccess.ReadWrite);
            Assert.Equal(8 << 20, RandomAccess.GetLength(view));
            var buffer = new byte[6];
            RandomAccess.Read(view, buffer.AsSpan(0, 5), 0);
            Assert.Equal("start"u8.ToArray(), buffer[..5]);
            RandomAccess.Read(view, buffer, 5 << 20);
            Assert.Equal("middle"u8.ToArray(), buffer);
            RandomAccess.Read(view, buffer, 1 << 20);
            Assert.All(buffer, b => Assert.Equal(0, b));
            // Opened read-write (as QEMU does) and still not writable: the seal refuses write, grow and shrink.
            Assert.ThrowsAny<Exception>(() => RandomAccess.Write(view, "x"u8, 0));
            Assert.ThrowsAny<Exception>(() => RandomAccess.SetLength(view, 16 << 20));
            Assert.ThrowsAny<Exception>(() => RandomAccess.SetLength(view, 1 << 20));
        }
        finally
        {
            TemplateRam.Forget(template);
        }
        Assert.True(memfd.IsClosed);
    }

    [Fact]
    public void A_missing_ram_file_is_a_restore_failure_naming_it()
    {
        var template = new SnapshotTemplate("k", Path.Combine(_dir, "gone"));
        var e = Assert.Throws<SnapshotRestoreException>(() => TemplateRam.Get(template));
        Assert.Contains(template.RamPath, e.Message);
    }
}
