using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    internal const int CLOCK_REALTIME = 0;

    [StructLayout(LayoutKind.Sequential)]
    internal struct TimeSpec
    {
        public long Sec;
        public long NSec;
    }

    [LibraryImport("libc", EntryPoint = "clock_settime", SetLastError = true)]
    internal static partial int clock_settime(int clock, TimeSpec* time);
}
