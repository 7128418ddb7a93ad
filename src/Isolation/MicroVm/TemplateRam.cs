using System.Collections.Concurrent;
using Microsoft.Win32.SafeHandles;
using Sandbox.Isolation.Interop;
using Sandbox.Isolation.Native;

namespace Sandbox.Isolation.MicroVm;

/// <summary>
/// A snapshot template's guest RAM as its clones map it: a sealed memfd (write, grow and shrink sealed) holding the
/// RAM file's contents, passed to each clone's QEMU as a descriptor (<see cref="VmmJail.TemplateRamFd"/>) and named
/// to it as /proc/self/fd/N. QEMU 7.2 opens a memory-backend-file read-write even to map it MAP_PRIVATE; on the RAM
/// file itself that meant every VM uid could write the pages all clones share. The memfd can be opened read-write
/// (its inode is 0777) but never written: write(2), fallocate and MAP_SHARED writable mappings fail with EPERM, while
/// MAP_PRIVATE writable mappings (copy-on-write, what a clone does) work. The RAM file stays root's 0600 and is never
/// bound into a clone's jail.
/// One memfd per template file per process, made on first restore (only the file's data extents are copied: its
/// holes stay holes) and kept while the process lives or until the template is discarded; every clone of this
/// process maps the same pages, so a clone's PSS counts only its share of them.
/// </summary>
internal static class TemplateRam
{
    private static readonly ConcurrentDictionary<string, Lazy<FileDescriptor>> s_memfds = new(StringComparer.Ordinal);

    /// <summary>The sealed memfd of <paramref name="template"/>'s RAM file (made on first use).</summary>
    public static FileDescriptor Get(SnapshotTemplate template)
    {
        var key = Identity(template.RamPath);
        var lazy = s_memfds.GetOrAdd(key, _ => new Lazy<FileDescriptor>(() => Copy(template.RamPath), LazyThreadSafetyMode.ExecutionAndPublication));
        try
        {
            return lazy.Value;
        }
        catch
        {
            s_memfds.TryRemove(new KeyValuePair<string, Lazy<FileDescriptor>>(key, lazy));
            throw;
        }
    }

    /// <summary>Drops this process's memfds of a template directory (being discarded); running clones keep their
    /// mappings, and a later restore of a rebuilt template copies the new file.</summary>
    public static void Forget(SnapshotTemplate template)
    {
        var prefix = template.RamPath + "\0";
        foreach (var key in s_memfds.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)))
        {
            if (s_memfds.TryRemove(key, out var lazy) && lazy.IsValueCreated)
                lazy.Value.Dispose();
        }
    }

    /// <summary>Path, inode, size and mtime: a template rebuilt at the same path is another file.</summary>
    private static string Identity(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
            throw new SnapshotRestoreException($"the template RAM file {path} is missing");
        return $"{path}\0{info.Length}\0{info.LastWriteTimeUtc.Ticks}";
    }

    private static FileDescriptor Copy(string path)
    {
        var memfd = Libc.MemfdCreate("sandbox-template-ram", Libc.MFD_CLOEXEC | Libc.MFD_ALLOW_SEALING);
        if (memfd < 0)
            throw Errno.Fail("memfd_create(sandbox-template-ram)");
        var handle = new FileDescriptor(memfd);
        try
        {
            using var source = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
            var length = RandomAccess.GetLength(source);
            using var target = new SafeFileHandle(handle.DangerousGetHandle(), ownsHandle: false);
            RandomAccess.SetLength(target, length);
            var buffer = new byte[1 << 20];
            var fd = (int)source.DangerousGetHandle();
            for (var offset = 0L; offset < length;)
            {
                var data = Libc.LSeek(fd, offset, Libc.SEEK_DATA);
                if (data < 0)
                {
                    if (Errno.Last == Libc.ENXIO) break; // no data after offset: the rest is a hole
                    throw Errno.Fail($"lseek(SEEK_DATA) in {path}");
                }
                var hole = Libc.LSeek(fd, data, Libc.SEEK_HOLE);
                if (hole < 0) throw Errno.Fail($"lseek(SEEK_HOLE) in {path}");
                for (var at = data; at < hole;)
                {
                    var n = RandomAccess.Read(source, buffer.AsSpan(0, (int)Math.Min(buffer.Length, hole - at)), at);
                    if (n == 0) throw new SnapshotRestoreException($"the template RAM file {path} ended at {at} of {length} bytes");
                    RandomAccess.Write(target, buffer.AsSpan(0, n), at);
                    at += n;
                }
                offset = hole;
            }
            if (Libc.Fcntl(memfd, Libc.F_ADD_SEALS, Libc.F_SEAL_SEAL | Libc.F_SEAL_SHRINK | Libc.F_SEAL_GROW | Libc.F_SEAL_WRITE) != 0)
                throw Errno.Fail("sealing the template RAM memfd");
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }
}
