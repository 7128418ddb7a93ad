using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    internal const int O_CLOEXEC = 0x80000;
    internal const int O_NONBLOCK = 0x800;

    [LibraryImport("libc", EntryPoint = "pipe2", SetLastError = true)]
    internal static partial int pipe2(int* fds, int flags);
}
