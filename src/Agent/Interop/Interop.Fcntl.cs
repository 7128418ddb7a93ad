using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    internal const int F_GETFD = 1;
    internal const int F_DUPFD_CLOEXEC = 1030;
    internal const int F_SETFD = 2;
    internal const int F_GETFL = 3;
    internal const int F_SETFL = 4;
    internal const int FD_CLOEXEC = 1;

    // fcntl is variadic; with integer arguments only the System V x86_64 / AAPCS64 ABI passes them like fixed ones.
    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    internal static partial int fcntl(int fd, int cmd, int arg);
}
