using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    [LibraryImport("libc", EntryPoint = "pread64", SetLastError = true)]
    internal static partial nint pread(int fd, byte* buffer, nuint count, long offset);
}
