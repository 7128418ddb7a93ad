using System.Runtime.InteropServices;

namespace Sandbox.Isolation.Interop;

internal static partial class Libc
{
    internal const ulong MOUNT_ATTR_RDONLY = 0x1, MOUNT_ATTR_NOSUID = 0x2, MOUNT_ATTR_NODEV = 0x4, MOUNT_ATTR_IDMAP = 0x100000;

    /// <summary>struct mount_attr (MOUNT_ATTR_SIZE_VER0, 32 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct MountAttr
    {
        public ulong AttrSet;
        public ulong AttrClr;
        public ulong Propagation;
        public ulong UsernsFd;
    }

    /// <summary>mount_setattr(2), glibc 2.36+ (Linux 5.12+; an idmapped layer under overlayfs needs 5.19+).</summary>
    [LibraryImport(Name, EntryPoint = "mount_setattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static unsafe partial int MountSetattr(int dirfd, string path, uint flags, MountAttr* attr, nuint size);
}
