using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    internal const int O_RDONLY = 0;
    internal const int O_WRONLY = 1;
    internal const int O_RDWR = 2;
    internal const int O_CREAT = 0x40;
    internal const int O_NOCTTY = 0x100;
    internal const int O_DIRECTORY = 0x10000;
    internal const int O_NOFOLLOW = 0x20000;
    internal const int O_PATH = 0x200000;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true)]
    internal static partial int open(byte* path, int flags, uint mode);
}
