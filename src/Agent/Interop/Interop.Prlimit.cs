using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    internal const int RLIMIT_FSIZE = 1;
    internal const int RLIMIT_CORE = 4;
    internal const int RLIMIT_NPROC = 6;
    internal const int RLIMIT_NOFILE = 7;

    [StructLayout(LayoutKind.Sequential)]
    internal struct RLimit
    {
        public ulong Current;
        public ulong Max;
    }

    [LibraryImport("libc", EntryPoint = "prlimit", SetLastError = true)]
    internal static partial int prlimit(int pid, int resource, RLimit* newLimit, RLimit* oldLimit);
}
