using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    internal const int X_OK = 1;

    [LibraryImport("libc", EntryPoint = "access", SetLastError = true)]
    internal static partial int access(byte* path, int mode);
}
