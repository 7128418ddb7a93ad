using Sandbox.Isolation.Interop;

namespace Sandbox.Isolation.Native;

/// <summary>An in-memory file with fixed, sealed contents: how the seccomp program and generated /etc files reach
/// bwrap without touching the disk. Written with pwrite so the read offset stays at 0 for the reader.</summary>
internal static unsafe class SealedMemfd
{
    /// <summary>A descriptor of its own (a new open file description, offset 0, read-only) of the sealed memfd
    /// <paramref name="memfd"/>: a reader that reads it to the end (bwrap) leaves the next one's offset alone. The sealed
    /// contents cannot change, so one memfd serves any number of readers.</summary>
    public static FileDescriptor Reopen(FileDescriptor memfd)
    {
        var fd = Libc.Open($"/proc/self/fd/{memfd.Fd}", Libc.O_RDONLY | Libc.O_CLOEXEC);
        if (fd < 0)
            throw Errno.Fail($"reopening memfd {memfd.Fd}");
        return new FileDescriptor(fd);
    }

    public static FileDescriptor Create(string name, ReadOnlySpan<byte> content)
    {
        var fd = Libc.MemfdCreate(name, Libc.MFD_CLOEXEC | Libc.MFD_ALLOW_SEALING);
        if (fd < 0)
            throw Errno.Fail($"memfd_create({name})");
        var handle = new FileDescriptor(fd);
        try
        {
            fixed (byte* p = content)
            {
                long written = 0;
                while (written < content.Length)
                {
                    var n = Libc.PWrite(fd, p + written, (nuint)(content.Length - written), written);
                    if (n < 0)
                    {
                        if (Errno.Last == Errno.EINTR) continue;
                        throw Errno.Fail($"write to memfd {name}");
                    }
                    written += n;
                }
            }
            if (Libc.Fcntl(fd, Libc.F_ADD_SEALS, Libc.F_SEAL_SEAL | Libc.F_SEAL_SHRINK | Libc.F_SEAL_GROW | Libc.F_SEAL_WRITE) != 0)
                throw Errno.Fail($"sealing memfd {name}");
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }
}
