using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    internal const int WNOHANG = 1;

    [StructLayout(LayoutKind.Sequential)]
    internal struct TimeVal
    {
        public long Sec;
        public long USec;
    }

    /// <summary>struct rusage (64-bit Linux): two timevals then 14 longs, ru_maxrss (KiB) first.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct RUsage
    {
        public TimeVal UTime;
        public TimeVal STime;
        public long MaxRss;
        public fixed long Rest[13];
    }

    [LibraryImport("libc", EntryPoint = "wait4", SetLastError = true)]
    internal static partial int wait4(int pid, int* status, int options, RUsage* rusage);
}
