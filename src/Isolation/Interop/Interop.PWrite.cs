using System.Runtime.InteropServices;

namespace Sandbox.Isolation.Interop;

internal static unsafe partial class Libc
{
    [LibraryImport(Name, EntryPoint = "pwrite", SetLastError = true)]
    internal static partial nint PWrite(int fd, byte* buffer, nuint count, long offset);
}
