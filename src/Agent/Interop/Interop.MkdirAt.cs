using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    [LibraryImport("libc", EntryPoint = "mkdirat", SetLastError = true)]
    internal static partial int mkdirat(int dirfd, byte* path, uint mode);
}
