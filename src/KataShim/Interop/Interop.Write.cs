using System.Runtime.InteropServices;

namespace Sandbox.KataShim.Interop;

internal static partial class Libc
{
    [LibraryImport(Name, EntryPoint = "write", SetLastError = true)]
    internal static partial nint Write(int fd, ReadOnlySpan<byte> buffer, nint count);
}
