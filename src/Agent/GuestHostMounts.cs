using Sandbox.Agent.Interop;
using Sandbox.AgentProtocol.V1;
using Sandbox.Ttrpc;

namespace Sandbox.Agent;

/// <summary>
/// Host directories and files bound into a microVM guest's root (an OCI bundle's bind mounts, SetupGuestRequest
/// host_mounts): each is a virtio-9p share QEMU exports from its jail, where the share's directory holds only that
/// source. It is mounted under the initramfs's /shares (out of the root's reach after the switch), read-only unless
/// writable, nosuid, nodev, uncached (the host sees writes, the guest sees the host's), and its directory or file bound
/// onto the destination. The destination is walked one component at a time inside the new root: a symlink on the way
/// (an image's own) is refused, so a bind never lands outside the root or on the agent's files; missing components are
/// made (a file last for a file source), which needs a writable place (an image's overlay, the root's tmpfs).
/// The request's tmpfs mounts (scratch_mounts) take the same walk to their destination.
/// </summary>
internal static class GuestHostMounts
{
    public static void Validate(SetupGuestRequest request)
    {
        if (request.HostMounts.Count > 0 && request.Template)
            throw new TtrpcException(StatusCode.InvalidArgument, "host mounts are 9p shares, which a template's snapshot cannot hold");
        if (request.ScratchMounts.Count > 0 && request.Template)
            throw new TtrpcException(StatusCode.InvalidArgument, "tmpfs mounts are not made in a template (its clones' roots are read-only)");
        foreach (var m in request.ScratchMounts)
        {
            FileService.ValidatePath(m.Path);
            if (m.Path == "/" || m.Path.Split('/').Skip(1).Any(c => c is "" or "." or ".."))
                throw new TtrpcException(StatusCode.InvalidArgument, $"tmpfs mount path '{m.Path}' must be absolute, normalized and not /");
            if (m.SizeBytes <= 0 || m.Mode > 0xFFF)
                throw new TtrpcException(StatusCode.InvalidArgument, $"tmpfs mount at {m.Path}: size {m.SizeBytes} must be positive, mode at most 07777");
        }
        foreach (var m in request.HostMounts)
        {
            FileService.ValidatePath(m.Path);
            if (m.Path == "/" || m.Path.Split('/').Skip(1).Any(c => c is "" or "." or ".."))
                throw new TtrpcException(StatusCode.InvalidArgument, $"host mount path '{m.Path}' must be absolute, normalized and not /");
            if (m.Subpath.Contains('/') || m.Subpath is "." or "..")
                throw new TtrpcException(StatusCode.InvalidArgument, $"host mount subpath '{m.Subpath}' must be a plain file name");
            if (m.Tag.Length is 0 or > 31 || m.Tag.Any(c => !char.IsAsciiLetterOrDigit(c) && c != '_'))
                throw new TtrpcException(StatusCode.InvalidArgument, $"host mount tag '{m.Tag}' must be 1..31 characters of [A-Za-z0-9_]");
        }
    }

    public static void MountAll(IEnumerable<GuestHostMount> mounts, string newRoot, string sharesDir)
    {
        foreach (var m in mounts)
        {
            var share = sharesDir + "/" + m.Tag;
            Directory.CreateDirectory(share);
            GuestInit.Mount(m.Tag, share, "9p", Libc.MS_NOSUID | Libc.MS_NODEV | (m.Writable ? 0 : Libc.MS_RDONLY),
                "trans=virtio,version=9p2000.L,msize=262144,cache=none");
            var source = m.Subpath.Length > 0 ? share + "/" + m.Subpath : share;
            var isDirectory = m.Subpath.Length == 0 || Directory.Exists(source);
            var target = Target(newRoot, m.Path, isDirectory);
            GuestInit.Mount(source, target, null, Libc.MS_BIND, null);
            if (!m.Writable)
                GuestInit.Mount("none", target, null, Libc.MS_REMOUNT | Libc.MS_BIND | Libc.MS_RDONLY | Libc.MS_NOSUID | Libc.MS_NODEV, null);
        }
    }

    /// <summary>The request's tmpfs mounts (<see cref="GuestScratchMount"/>), each at its destination walked as a host
    /// mount's is: nosuid, nodev always, noexec and read-only when asked.</summary>
    public static void MountScratch(IEnumerable<GuestScratchMount> mounts, string newRoot)
    {
        foreach (var m in mounts)
            GuestInit.Mount("tmpfs", Target(newRoot, m.Path, isDirectory: true, "tmpfs mount"), "tmpfs",
                Libc.MS_NOSUID | Libc.MS_NODEV | (m.NoExec ? Libc.MS_NOEXEC : 0) | (m.ReadOnly ? Libc.MS_RDONLY : 0),
                $"size={m.SizeBytes},mode={Convert.ToString(m.Mode, 8)}");
    }

    /// <summary>The destination under <paramref name="newRoot"/>, walked without following a symlink; missing
    /// components made.</summary>
    private static string Target(string newRoot, string path, bool isDirectory, string what = "host mount")
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var current = newRoot;
        for (var i = 0; i < parts.Length; i++)
        {
            current += "/" + parts[i];
            var last = i == parts.Length - 1;
            var info = new FileInfo(current);
            if (info.LinkTarget is not null)
                throw new TtrpcException(StatusCode.InvalidArgument,
                    $"{what} destination {path}: /{string.Join('/', parts[..(i + 1)])} is a symlink in the root (give the real path)");
            try
            {
                if (!info.Exists && !Directory.Exists(current))
                {
                    if (last && !isDirectory)
                        File.WriteAllBytes(current, []);
                    else
                        Directory.CreateDirectory(current);
                }
                else if ((!last || isDirectory) != Directory.Exists(current))
                    throw new TtrpcException(StatusCode.InvalidArgument,
                        $"{what} destination {path}: /{string.Join('/', parts[..(i + 1)])} is {(Directory.Exists(current) ? "a directory" : "not a directory")} in the root, the source {(isDirectory ? "a directory" : "a file")}");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new TtrpcException(StatusCode.InvalidArgument, $"{what} destination {path}: cannot make /{string.Join('/', parts[..(i + 1)])} in the root: {e.Message}");
            }
        }
        return current;
    }
}
