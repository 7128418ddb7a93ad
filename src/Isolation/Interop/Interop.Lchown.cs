using System.Runtime.InteropServices;

namespace Sandbox.Isolation.Interop;

internal static partial class Libc
{
    /// <summary>lchown: the link itself when the last component is a symlink (never followed).</summary>
    [LibraryImport(Name, EntryPoint = "lchown", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int Lchown(string path, uint owner, uint group);
}
