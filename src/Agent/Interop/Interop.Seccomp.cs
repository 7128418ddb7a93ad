using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

/// <summary>seccomp(SECCOMP_SET_MODE_FILTER) without TSYNC: the filter lands on the calling thread only (and on what it
/// spawns), never on the agent's other threads. prctl(PR_CAPBSET_DROP) is per thread too (a credential).</summary>
internal static unsafe partial class Libc
{
    internal const long SYS_seccomp = 317; // x86_64
    internal const uint SECCOMP_SET_MODE_FILTER = 1;
    internal const int PR_CAPBSET_DROP = 24;

    /// <summary>struct sock_fprog { unsigned short len; struct sock_filter *filter; }</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct SockFprog
    {
        public ushort Len;
        public byte* Filter;
    }

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    internal static partial long syscall_seccomp(long number, uint operation, uint flags, SockFprog* program);
}
