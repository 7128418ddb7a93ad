using System.Runtime.InteropServices;

namespace Sandbox.Isolation.Interop;

internal static partial class Libc
{
    internal const int SEEK_DATA = 3, SEEK_HOLE = 4;
    internal const int ENXIO = 6;

    [LibraryImport(Name, EntryPoint = "lseek", SetLastError = true)]
    internal static partial long LSeek(int fd, long offset, int whence);
}
