using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    internal const long SYS_finit_module = 313; // x86_64

    /// <summary>finit_module(fd, params, flags) through syscall(): glibc has no wrapper.</summary>
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    internal static partial long syscall_finit_module(long number, int fd, byte* parameters, int flags);
}
