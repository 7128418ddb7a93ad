using System.Runtime.InteropServices;
using Sandbox.Isolation;
using Sandbox.KataShim.Interop;
using Sandbox.KataShim.Oci;

namespace Sandbox.KataShim.Rootfs;

/// <summary>One bind mount of the bundle, checked: the host source, the destination in the container, read-only or not.</summary>
internal sealed record BindMount(int Index, string Source, string Destination, bool ReadOnly, bool Recursive, bool NoExec = false);

/// <summary>The bundle's bind mounts, laid into the shim's view of the container's root before the sandbox starts
/// (the engine then shows that tree to the workload; on the container tier every entry of the root is bound
/// read-only, so a bind asked `rw` is read-only in the sandbox too — stricter). Paths are resolved so that no symlink
/// can redirect a mount: the source with RESOLVE_NO_SYMLINKS (a source path through a symlink is refused, naming its
/// real path), the destination with RESOLVE_IN_ROOT (symlinks in the container's root resolve inside that root, never
/// on the host), and both mounts go through the resolved descriptors (/proc/self/fd/N), so nothing can swap a path
/// between the check and the mount.</summary>
internal static class BindMounts
{
    /// <summary>Top-level directories the engine provides itself: a bind under them would not be seen.</summary>
    internal static readonly string[] EngineDirs = ["/proc", "/dev", "/tmp", "/run", "/sys", "/work"];

    private static readonly HashSet<string> Accepted = new(StringComparer.Ordinal)
    {
        "bind", "rbind", "ro", "rw", "nosuid", "nodev", "noexec", "private", "rprivate", "slave", "rslave",
    };

    /// <summary>Bind entries of config.json's mounts (type "bind", or no type with a bind option); problems go to <paramref name="errors"/>.</summary>
    public static BindMount? Check(OciMount m, int index, List<string> errors)
    {
        var options = m.Options ?? [];
        var isBind = m.Type == "bind" || ((m.Type is null or "none") && (options.Contains("bind") || options.Contains("rbind")));
        if (!isBind)
            return null;
        var at = $"mounts[{index}] (bind {m.Source} → {m.Destination})";
        var ok = true;
        foreach (var option in options.Where(o => !Accepted.Contains(o)))
        {
            errors.Add($"{at}: option '{option}' is not supported (accepted: {string.Join(", ", Accepted.Order())})");
            ok = false;
        }
        if (string.IsNullOrEmpty(m.Source) || !Path.IsPathFullyQualified(m.Source))
        {
            errors.Add($"{at}: the source must be an absolute host path");
            ok = false;
        }
        var dest = m.Destination;
        if (!Path.IsPathFullyQualified(dest) || dest.Split('/').Contains(".."))
        {
            errors.Add($"{at}: the destination must be an absolute path without '..'");
            ok = false;
        }
        else if (Path.TrimEndingDirectorySeparator(dest) == "/" || EngineDirs.Any(d => dest == d || dest.StartsWith(d + "/", StringComparison.Ordinal)))
        {
            errors.Add($"{at}: the destination is the engine's own ({string.Join(", ", EngineDirs)} and / are provided by the sandbox and take no binds)");
            ok = false;
        }
        return ok ? new BindMount(index, m.Source!, dest, options.Contains("ro"), options.Contains("rbind"), options.Contains("noexec")) : null;
    }

    /// <summary>Mounts every bind onto <paramref name="root"/>. <paramref name="mayCreate"/>: missing destinations are
    /// created (the root is the container's own writable snapshot); otherwise (a `--rootfs DIR` that the shim must not
    /// change) a missing destination is an error naming it. On failure the caller unmounts <paramref name="root"/>
    /// recursively (MNT_DETACH takes the binds with it).</summary>
    public static void MountAll(IReadOnlyList<BindMount> binds, string root, bool mayCreate)
    {
        var rootFd = Libc.Open(root, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        if (rootFd < 0)
            throw Fail($"open {root}");
        try
        {
            foreach (var bind in binds)
                MountOne(bind, rootFd, mayCreate);
        }
        finally
        {
            Libc.Close(rootFd);
        }
    }

    /// <summary>Mount points of the bundle's tmpfs mounts (which the engine mounts: bwrap on the container tier, the guest
    /// agent on the microVM tier), resolved inside <paramref name="root"/> as a bind's destination is. In the container's
    /// own snapshot (<paramref name="mayCreate"/>) a missing one is made, since the container tier binds the root's
    /// entries read-only; in a `--rootfs DIR` a missing one below the top level is an error naming it (a top-level one is
    /// made on the engine's own root).</summary>
    public static void MakeMountPoints(IEnumerable<ScratchMount> mounts, string root, bool mayCreate)
    {
        var rootFd = Libc.Open(root, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        if (rootFd < 0)
            throw Fail($"open {root}");
        try
        {
            foreach (var m in mounts.Where(m => mayCreate || m.Destination.TrimStart('/').Contains('/')))
                Libc.Close(OpenDestination(rootFd, m.Destination.TrimStart('/'), directory: true, mayCreate, $"tmpfs mount at {m.Destination}"));
        }
        finally
        {
            Libc.Close(rootFd);
        }
    }

    /// <summary>A view of a `--rootfs DIR` to lay binds into (DIR itself is never changed): a recursive bind of DIR
    /// at <paramref name="view"/>.</summary>
    public static void BindRoot(string dir, string view)
    {
        Directory.CreateDirectory(view);
        if (Libc.Mount(dir, view, null, Libc.MS_BIND | Libc.MS_REC, null) != 0)
            throw Fail($"bind {dir} on {view}");
    }

    /// <summary>Mounts under <paramref name="view"/> must not propagate to the peers of its parent (with DIR's view,
    /// DIR itself or a mount under it): the propagation of the view and of everything under it becomes private.</summary>
    public static void MakePrivate(string view)
    {
        if (Libc.Mount("", view, null, Libc.MS_PRIVATE | Libc.MS_REC, null) != 0)
            throw Fail($"make {view} private");
    }

    private static void MountOne(BindMount bind, int rootFd, bool mayCreate)
    {
        var at = $"mounts[{bind.Index}] (bind {bind.Source} → {bind.Destination})";
        var source = Libc.Openat2(Libc.AT_FDCWD, bind.Source, Libc.O_PATH | Libc.O_CLOEXEC, Libc.RESOLVE_NO_SYMLINKS | Libc.RESOLVE_NO_MAGICLINKS);
        if (source < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno == 40) // ELOOP: a symlink on the way
                throw new SandboxException(SandboxErrorCode.InvalidArgument,
                    $"{at}: the source passes through a symlink; give its real path (no component may be a symlink)");
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"{at}: the source cannot be opened: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        try
        {
            var sourceIsDir = Directory.Exists($"/proc/self/fd/{source}");
            var dest = OpenDestination(rootFd, bind.Destination.TrimStart('/'), sourceIsDir, mayCreate, at);
            try
            {
                var flags = Libc.MS_BIND | (bind.Recursive ? Libc.MS_REC : 0);
                if (Libc.Mount($"/proc/self/fd/{source}", $"/proc/self/fd/{dest}", null, flags, null) != 0)
                    throw Fail($"{at}: mount");
            }
            finally
            {
                Libc.Close(dest);
            }
            // Flags of a bind are set by a remount of the new mount: resolve the destination again, now landing on it.
            ulong remount = Libc.MS_NOSUID | Libc.MS_NODEV | (bind.ReadOnly ? Libc.MS_RDONLY : 0) | (bind.NoExec ? Libc.MS_NOEXEC : 0);
            var mounted = Libc.Openat2(rootFd, bind.Destination.TrimStart('/'), Libc.O_PATH | Libc.O_CLOEXEC, Libc.RESOLVE_IN_ROOT | Libc.RESOLVE_NO_MAGICLINKS);
            if (mounted < 0)
                throw Fail($"{at}: reopen after mount");
            try
            {
                if (Libc.Mount("", $"/proc/self/fd/{mounted}", null, Libc.MS_BIND | Libc.MS_REMOUNT | remount, null) != 0)
                    throw Fail($"{at}: remount {(bind.ReadOnly ? "read-only," : "")}{(bind.NoExec ? "noexec," : "")}nosuid,nodev");
            }
            finally
            {
                Libc.Close(mounted);
            }
        }
        finally
        {
            Libc.Close(source);
        }
    }

    /// <summary>The destination inside the root, created when missing and allowed (a directory for a directory source,
    /// an empty file for a file); every component is resolved inside the root.</summary>
    private static int OpenDestination(int rootFd, string relative, bool directory, bool mayCreate, string at)
    {
        const ulong inRoot = Libc.RESOLVE_IN_ROOT | Libc.RESOLVE_NO_MAGICLINKS;
        var fd = Libc.Openat2(rootFd, relative, Libc.O_PATH | Libc.O_CLOEXEC, inRoot);
        if (fd >= 0)
            return fd;
        if (Marshal.GetLastPInvokeError() != 2) // ENOENT
            throw Fail($"{at}: destination");
        if (!mayCreate)
            throw new SandboxException(SandboxErrorCode.InvalidArgument,
                $"{at}: the destination does not exist in the root given with --rootfs (the shim never writes into it: create it there)");
        var parts = relative.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var parent = Libc.Openat2(rootFd, ".", Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, inRoot);
        for (var i = 0; i < parts.Length; i++)
        {
            var last = i == parts.Length - 1;
            var prefix = string.Join('/', parts[..(i + 1)]);
            var next = Libc.Openat2(rootFd, prefix, Libc.O_PATH | Libc.O_CLOEXEC | (last ? 0 : Libc.O_DIRECTORY), inRoot);
            if (next < 0)
            {
                // Created relative to the resolved parent, by name only: nothing here follows a link.
                var made = last && !directory
                    ? CreateFile(parent, parts[i])
                    : Libc.Mkdirat(parent, parts[i], 0b111_101_101);
                if (made < 0 && Marshal.GetLastPInvokeError() != 17) // EEXIST: raced, resolve again
                {
                    Libc.Close(parent);
                    throw Fail($"{at}: create {prefix} in the root");
                }
                next = Libc.Openat2(rootFd, prefix, Libc.O_PATH | Libc.O_CLOEXEC | (last ? 0 : Libc.O_DIRECTORY), inRoot);
                if (next < 0)
                {
                    Libc.Close(parent);
                    throw Fail($"{at}: open {prefix} in the root");
                }
            }
            Libc.Close(parent);
            parent = next;
        }
        return parent;
    }

    private static int CreateFile(int parent, string name)
    {
        var fd = Libc.Openat(parent, name, Libc.O_CREAT | Libc.O_EXCL | Libc.O_NOFOLLOW | Libc.O_WRONLY | Libc.O_CLOEXEC, 0b110_100_100);
        if (fd >= 0)
            Libc.Close(fd);
        return fd < 0 ? -1 : 0;
    }

    private static SandboxException Fail(string what)
    {
        var errno = Marshal.GetLastPInvokeError();
        return new SandboxException(SandboxErrorCode.Internal, $"{what} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
    }
}
