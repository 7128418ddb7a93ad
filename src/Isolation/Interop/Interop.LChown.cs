using System.Runtime.InteropServices;

namespace Sandbox.Isolation.Interop;

internal static partial class Libc
{
    /// <summary>lchown(2): never follows a final symlink (the microVM state directory and its sockets are handed to the
    /// VM's host uid; a link planted there must not redirect the change).</summary>
    [LibraryImport(Name, EntryPoint = "lchown", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int LChown(string path, int owner, int group);
}
