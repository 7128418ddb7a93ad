using System.Runtime.InteropServices;

namespace Sandbox.Isolation.Interop;

internal static partial class Libc
{
    /// <summary>chown without following a final symlink (image layers record owners of links too).</summary>
    [LibraryImport(Name, EntryPoint = "lchown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Lchown(string path, int owner, int group);
}
