using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    [LibraryImport("libc", EntryPoint = "ftruncate64", SetLastError = true)]
    internal static partial int ftruncate(int fd, long length);
}
