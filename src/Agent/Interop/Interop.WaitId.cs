using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    internal const int P_ALL = 0;
    internal const int WEXITED = 4;
    internal const int WNOWAIT = 0x01000000;
    internal const int SigInfoSize = 128;
    internal const int SigInfoPidOffset = 16;

    [LibraryImport("libc", EntryPoint = "waitid", SetLastError = true)]
    internal static partial int waitid(int idType, int id, byte* info, int options);
}
