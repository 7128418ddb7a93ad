using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    internal const int MNT_DETACH = 2;

    [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true)]
    internal static partial int umount2(byte* target, int flags);
}
