using System.Runtime.InteropServices;

namespace Sandbox.Isolation.Interop;

internal static partial class Libc
{
    internal const int RLIMIT_FSIZE = 1, RLIMIT_CORE = 4, RLIMIT_NOFILE = 7;

    /// <summary>struct rlimit64: soft and hard limit.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [LibraryImport(Name, EntryPoint = "prlimit64", SetLastError = true)]
    internal static partial int Prlimit(int pid, int resource, in RLimit newLimit, nint oldLimit);
}
