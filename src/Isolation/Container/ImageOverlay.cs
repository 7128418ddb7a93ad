namespace Sandbox.Isolation.Container;

/// <summary>The writable root of a sandbox made from an image: a kernel overlay of the image's unpacked root (lower,
/// shared, never written) and a tmpfs upper capped at the sandbox's disk size. bwrap 0.8 has no overlay options, so
/// the launch chain is prefixed: `unshare --mount --propagation private` gives the chain (one process that execs its
/// way to bwrap) a private mount namespace, a fixed sh script mounts the tmpfs and the overlay at
/// <see cref="MergedDirectory"/> there and execs the rest of the chain; bwrap then binds the overlay's entries into
/// the sandbox. The mounts live only in that namespace: the host never sees them, every sandbox can use the same
/// mount point, and they are gone when the sandbox's last process exits — nothing to unmount, nothing left by a
/// crash. Root mounts the overlay (before the chain drops to the sandbox's uid), so the store can stay 0700.
/// The lower layer is not the store's directory itself but <see cref="IdmappedLower"/>'s detached idmapped copy of it,
/// which the chain never holds: overlayfs is given the engine's own descriptor as <c>/proc/ENGINE-PID/fd/N</c> (mount
/// runs as root in the engine's pid namespace, so the link resolves to the detached mount), and the overlay keeps its
/// own reference. The engine holds the descriptor until bwrap has reported the sandbox's pid, long after the script
/// ran; nothing in the chain, bwrap or the sandbox ever has a descriptor of the shared image.</summary>
internal static class ImageOverlay
{
    /// <summary>An empty host directory, only ever mounted on inside private mount namespaces.</summary>
    public const string MountPoint = "/run/sandbox/image-root";

    /// <summary>The overlay's merged view inside the private mount namespace.</summary>
    public const string MergedDirectory = MountPoint + "/merged";

    // Arguments, not interpolation: $1 size in bytes, $2 the lower layer (/proc/PID/fd/N), $3 mount point, $4 the work
    // dir to make in the overlay ("home/runner", or empty), $5 the uid:gid that owns what is made (root of the sandbox's
    // range); the rest is the chain to exec. dash reads no startup file for -c and resets IFS; tools are named by
    // absolute path, so the sandbox's environment (which the chain carries to bwrap) cannot redirect them.
    private const string Script =
        "set -e; size=$1; lower=$2; mnt=$3; workdir=$4; owner=$5; shift 5; " +
        "/bin/mount -t tmpfs -o \"size=$size,mode=0755\" sandbox-upper \"$mnt\"; " +
        "/bin/mkdir -m 0755 \"$mnt/upper\" \"$mnt/work\" \"$mnt/merged\"; " +
        "/bin/mount -t overlay -o \"lowerdir=$lower,upperdir=$mnt/upper,workdir=$mnt/work\" sandbox-image \"$mnt/merged\"; " +
        // bwrap lays generated /etc/passwd and /etc/group (and, with egress, the sandbox resolver's resolv.conf; with
        // loopback names, hosts) over the
        // image's; it cannot create their mount points in an image /etc it may not write, so empty ones are made here (in
        // the upper layer). Never through a symlink: an image's link would resolve on the host here.
        // The work dir's mount point, when it lies inside the image's tree (RootfsLayout.WorkDirInImage): made on the
        // sandbox's own root, the upper layer, owned by the sandbox's root and walkable by every user (bwrap mounts the
        // work dir's tmpfs on it). Part by part and never through a symlink, which would resolve on the host here.
        "if [ -n \"$workdir\" ]; then d=$mnt/merged; set -f; IFS=/; for part in $workdir; do d=$d/$part; " +
        "if [ -L \"$d\" ] || { [ -e \"$d\" ] && [ ! -d \"$d\" ]; }; then echo \"sandbox-overlay: work dir part /${d#$mnt/merged/} is not a directory\" >&2; exit 1; fi; " +
        "if [ ! -d \"$d\" ]; then /bin/mkdir -m 0755 \"$d\"; /bin/chown \"$owner\" \"$d\"; fi; done; unset IFS; set +f; fi; " +
        "e=$mnt/merged/etc; if [ -d \"$e\" ] && [ ! -L \"$e\" ]; then for f in passwd group resolv.conf hosts; do " +
        "[ -e \"$e/$f\" ] || [ -L \"$e/$f\" ] || : > \"$e/$f\"; done; fi; " +
        "exec \"$@\"";

    /// <summary>The chain's prefix; <paramref name="lower"/> is <see cref="IdmappedLower"/>'s mount, held open by the caller
    /// until bwrap has reported the sandbox's pid. <paramref name="workDir"/>: the work dir relative to the root, made in
    /// the overlay (<see cref="RootfsLayout.WorkDirInImage"/>), or null; <paramref name="rootHostId"/>: the host id of
    /// the sandbox's root, which owns what is made.</summary>
    public static IReadOnlyList<string> Prefix(BubblewrapOptions options, Native.FileDescriptor lower, long upperBytes, string? workDir, int rootHostId)
    {
        if (!Environment.IsPrivilegedProcess)
            throw new SandboxException(SandboxErrorCode.FailedPrecondition,
                "a sandbox from an image needs the engine to run as root (it mounts the image's overlay in the sandbox's own mount namespace)");
        Directory.CreateDirectory(MountPoint);
        return [options.UnsharePath, "--mount", "--propagation", "private", "--", options.ShellPath, "-c", Script, "sandbox-overlay",
            upperBytes.ToString(System.Globalization.CultureInfo.InvariantCulture), $"/proc/{Environment.ProcessId}/fd/{lower.Fd}", MountPoint,
            workDir ?? "", $"{rootHostId}:{rootHostId}"];
    }
}
