using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    internal const int RLIMIT_NPROC = 6;

    [StructLayout(LayoutKind.Sequential)]
    internal struct RLimit
    {
        public ulong Current;
        public ulong Max;
    }

    [LibraryImport("libc", EntryPoint = "prlimit", SetLastError = true)]
    internal static partial int prlimit(int pid, int resource, RLimit* newLimit, RLimit* oldLimit);
}
