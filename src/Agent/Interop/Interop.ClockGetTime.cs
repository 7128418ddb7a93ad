using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    /// <summary>Time since the kernel started, suspend included (in a guest: since its kernel began to boot).</summary>
    internal const int CLOCK_BOOTTIME = 7;

    [LibraryImport("libc", EntryPoint = "clock_gettime", SetLastError = true)]
    internal static partial int clock_gettime(int clock, TimeSpec* time);
}
