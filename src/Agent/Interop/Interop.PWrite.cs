using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    [LibraryImport("libc", EntryPoint = "pwrite64", SetLastError = true)]
    internal static partial nint pwrite(int fd, byte* buffer, nuint count, long offset);
}
