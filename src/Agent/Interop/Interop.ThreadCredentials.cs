using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

/// <summary>setresuid / setresgid / setgroups / setfsuid / setfsgid as raw system calls. The kernel changes only the
/// calling thread's credentials; glibc's wrappers would broadcast the change to every thread of the process, which is
/// exactly what the guest agent must avoid (it stays root and lends one thread an unprivileged identity).</summary>
internal static unsafe partial class Libc
{
    internal const long SYS_setgroups = 116, SYS_setresuid = 117, SYS_setresgid = 119, SYS_setfsuid = 122, SYS_setfsgid = 123; // x86_64

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    internal static partial long syscall_id3(long number, long a, long b, long c);
}
