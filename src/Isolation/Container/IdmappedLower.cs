using Sandbox.Isolation.Interop;
using Sandbox.Isolation.Native;

namespace Sandbox.Isolation.Container;

/// <summary>An image's unpacked root as the sandbox sees it: a detached, read-only, idmapped copy of the store's
/// directory mount (open_tree(OPEN_TREE_CLONE) + mount_setattr(MOUNT_ATTR_IDMAP | RDONLY | NOSUID | NODEV) with the
/// sandbox's own user namespace). The store keeps the image's owners as the tar gave them (root is 0, _apt is 42);
/// through this mount a file owned by id N appears owned by host id <c>range base + N</c>, which the sandbox's user
/// namespace shows as N again: the image's root-owned files belong to root inside, and every sandbox sees the same
/// shared, never-copied directory with its own range. Ids ≥ 65 536 in the image are outside the range and read as the
/// overflow id (nobody). <see cref="ImageOverlay"/> makes it the overlay's lower layer (overlayfs takes idmapped
/// lower layers since Linux 5.19, and a detached mount as a layer since 6.15); the descriptor is the mount (closing it
/// unmounts it; the overlay made from it keeps its own private reference, so the engine closes it once the sandbox
/// is up).</summary>
internal static class IdmappedLower
{
    public static unsafe FileDescriptor Create(string lowerDirectory, FileDescriptor userNamespace)
    {
        var fd = Libc.OpenTree(Libc.AT_FDCWD, lowerDirectory, Libc.OPEN_TREE_CLONE | Libc.OPEN_TREE_CLOEXEC);
        if (fd < 0)
            throw Unavailable($"open_tree({lowerDirectory}, OPEN_TREE_CLONE)");
        var tree = new FileDescriptor(fd);
        var attr = new Libc.MountAttr
        {
            AttrSet = Libc.MOUNT_ATTR_IDMAP | Libc.MOUNT_ATTR_RDONLY | Libc.MOUNT_ATTR_NOSUID | Libc.MOUNT_ATTR_NODEV,
            UsernsFd = (ulong)userNamespace.Fd,
        };
        if (Libc.MountSetattr(tree.Fd, "", Libc.AT_EMPTY_PATH, &attr, (nuint)sizeof(Libc.MountAttr)) != 0)
        {
            var e = Unavailable($"mount_setattr(the image root {lowerDirectory}, MOUNT_ATTR_IDMAP)");
            tree.Dispose();
            throw e;
        }
        return tree;
    }

    /// <summary>ENOSYS (Linux &lt; 5.12), EINVAL (a file system without idmapped mounts, such as the store on an overlay
    /// or NFS): the host cannot give the image its owners; said, never worked around.</summary>
    private static SandboxException Unavailable(string what)
    {
        var inner = Errno.Fail(what);
        return new SandboxException(SandboxErrorCode.FailedPrecondition,
            $"{inner.Message}: a sandbox from an image needs idmapped mounts (Linux 5.19 or later, the image store on a file system " +
            "that supports them: ext4, xfs, btrfs, tmpfs)", inner.InnerException);
    }
}
