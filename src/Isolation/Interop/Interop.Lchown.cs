using System.Runtime.InteropServices;

namespace Sandbox.Isolation.Interop;

internal static partial class Libc
{
    /// <summary>lchown(2): never follows a final symlink (image layers record owners of links too; the microVM state
    /// directory and its sockets are handed to the VM's host uid, and a link planted there must not redirect the change).</summary>
    [LibraryImport(Name, EntryPoint = "lchown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Lchown(string path, int owner, int group);
}
