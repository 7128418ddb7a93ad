using System.Runtime.InteropServices;

namespace Sandbox.Isolation.Interop;

internal static unsafe partial class Libc
{
    internal const int P_PID = 1;
    internal const int P_PIDFD = 3;
    internal const int WNOHANG = 1;
    internal const int WEXITED = 4;
    internal const int WNOWAIT = 0x0100_0000;
    internal const int CLD_EXITED = 1, CLD_KILLED = 2, CLD_DUMPED = 3;

    /// <summary>The SIGCHLD part of siginfo_t (x86_64 layout); the struct is 128 bytes in all.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    internal struct SigInfoChild
    {
        [FieldOffset(0)] public int Signo;
        [FieldOffset(8)] public int Code;
        [FieldOffset(16)] public int Pid;
        [FieldOffset(24)] public int Status;
    }

    [LibraryImport(Name, EntryPoint = "waitid", SetLastError = true)]
    internal static partial int WaitId(int idType, int id, SigInfoChild* info, int options);
}
