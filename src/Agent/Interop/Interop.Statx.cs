using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    internal const int AT_FDCWD = -100;
    internal const int AT_EMPTY_PATH = 0x1000;
    internal const int AT_SYMLINK_NOFOLLOW = 0x100;
    internal const int AT_NO_AUTOMOUNT = 0x800;
    internal const uint STATX_TYPE = 0x1;
    internal const uint STATX_MODE = 0x2;
    internal const uint STATX_MTIME = 0x40;
    internal const uint STATX_SIZE = 0x200;
    internal const int StatxSize = 256;
    internal const int StatxModeOffset = 28;  // u16 stx_mode
    internal const int StatxSizeOffset = 40;  // u64 stx_size
    internal const int StatxMtimeOffset = 112; // struct statx_timestamp stx_mtime { s64 tv_sec; u32 tv_nsec; }
    internal const int S_IFMT = 0xF000;
    internal const int S_IFREG = 0x8000;
    internal const int S_IFDIR = 0x4000;
    internal const int S_IFLNK = 0xA000;

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true)]
    internal static partial int statx(int dirFd, byte* path, int flags, uint mask, byte* buffer);
}
