using System.Runtime.InteropServices;

namespace Sandbox.Isolation.Interop;

internal static partial class Libc
{
    internal const uint OPEN_TREE_CLONE = 1, OPEN_TREE_CLOEXEC = 0x80000;
    internal const int AT_FDCWD = -100, AT_EMPTY_PATH = 0x1000, AT_RECURSIVE = 0x8000;

    /// <summary>open_tree(2), glibc 2.36+ (Linux 5.2+). With OPEN_TREE_CLONE: a detached copy of the mount at
    /// <paramref name="path"/>, returned as a descriptor; it belongs to no mount namespace until attached, and is
    /// unmounted when its last descriptor closes.</summary>
    [LibraryImport(Name, EntryPoint = "open_tree", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int OpenTree(int dirfd, string path, uint flags);
}
