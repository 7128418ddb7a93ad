using System.Runtime.InteropServices;

namespace Sandbox.Isolation.Interop;

internal static partial class Libc
{
    internal const int O_NOFOLLOW = 0x20000;
    /// <summary>statfs f_type of the namespace filesystem (what `ip netns add` bind-mounts and /proc/PID/ns/* open).</summary>
    internal const long NSFS_MAGIC = 0x6e736673;
    /// <summary>ioctl NS_GET_NSTYPE (_IO(0xb7, 0x3)): the CLONE_NEW* type of a namespace descriptor.</summary>
    internal const ulong NS_GET_NSTYPE = 0xb703;

    /// <summary>fstatfs(2) into a raw buffer: on x86_64 and arm64 the first 8 bytes are f_type.</summary>
    [LibraryImport(Name, EntryPoint = "fstatfs", SetLastError = true)]
    internal static unsafe partial int Fstatfs(int fd, byte* buffer);

    /// <summary>fstat(2) into a raw buffer: on x86_64 st_dev is bytes 0..8 and st_ino bytes 8..16.</summary>
    [LibraryImport(Name, EntryPoint = "fstat", SetLastError = true)]
    internal static unsafe partial int Fstat(int fd, byte* buffer);

    [LibraryImport(Name, EntryPoint = "ioctl", SetLastError = true)]
    internal static partial int Ioctl(int fd, ulong request);
}
