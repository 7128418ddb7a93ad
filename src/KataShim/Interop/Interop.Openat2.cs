using System.Runtime.InteropServices;

namespace Sandbox.KataShim.Interop;

internal static partial class Libc
{
    internal const long SYS_openat2 = 437; // x86_64
    internal const int AT_FDCWD = -100;
    internal const int O_PATH = 0x200000, O_DIRECTORY = 0x10000, O_NOFOLLOW = 0x20000, O_EXCL = 0x80;
    internal const ulong RESOLVE_NO_MAGICLINKS = 0x02, RESOLVE_NO_SYMLINKS = 0x04, RESOLVE_IN_ROOT = 0x10;

    [StructLayout(LayoutKind.Sequential)]
    internal struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    [LibraryImport(Name, EntryPoint = "syscall", SetLastError = true)]
    internal static unsafe partial long SyscallOpenat2(long number, int dirFd, byte* path, OpenHow* how, nuint size);

    [LibraryImport(Name, EntryPoint = "mkdirat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int Mkdirat(int dirFd, string name, int mode);

    [LibraryImport(Name, EntryPoint = "openat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int Openat(int dirFd, string name, int flags, int mode);

    /// <summary>openat2(2) with its resolve flags; -1 and errno on failure (EINTR/EAGAIN retried).</summary>
    internal static unsafe int Openat2(int dirFd, string path, int flags, ulong resolve)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        var how = new OpenHow { Flags = (ulong)(uint)flags, Resolve = resolve };
        while (true)
        {
            long fd;
            fixed (byte* p = bytes)
                fd = SyscallOpenat2(SYS_openat2, dirFd, p, &how, (nuint)sizeof(OpenHow));
            if (fd >= 0)
                return (int)fd;
            var errno = Marshal.GetLastPInvokeError();
            if (errno is not (4 or 11)) // EINTR, EAGAIN (a rename raced RESOLVE_IN_ROOT)
                return -1;
        }
    }
}
