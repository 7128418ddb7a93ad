using System.Runtime.InteropServices;

namespace Sandbox.KataShim.Interop;

internal static partial class Libc
{
    [LibraryImport(Name, EntryPoint = "pipe2", SetLastError = true)]
    internal static unsafe partial int Pipe2(int* fds, int flags);
}
