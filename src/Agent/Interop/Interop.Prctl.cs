using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    internal const int PR_SET_DUMPABLE = 4;
    internal const int PR_SET_NAME = 15;
    internal const int PR_SET_NO_NEW_PRIVS = 38;

    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    internal static partial int prctl(int option, ulong arg2, ulong arg3, ulong arg4, ulong arg5);
}
