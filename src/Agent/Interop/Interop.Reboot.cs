using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    internal const int RB_POWER_OFF = 0x4321fedc;
    internal const int RB_AUTOBOOT = 0x01234567;

    [LibraryImport("libc", EntryPoint = "reboot", SetLastError = true)]
    internal static partial int reboot(int command);
}
