using System.Runtime.InteropServices;

namespace Sandbox.Isolation.Interop;

internal static unsafe partial class Libc
{
    [LibraryImport(Name, EntryPoint = "getxattr", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial nint GetXattr(string path, string name, byte* value, nuint size);

    [LibraryImport(Name, EntryPoint = "setxattr", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int SetXattr(string path, string name, byte* value, nuint size, int flags);
}
