namespace Sandbox.Isolation.Container;

/// <summary>Turns a <see cref="RootfsSpec"/> into bwrap mount steps. The root is always bwrap's own empty tmpfs;
/// the top-level entries of the chosen tree are bound into it read-only, and the engine adds its own /proc, /dev,
/// /tmp, the work dir and /run/sandbox. So a directory rootfs needs no mount points of its own.</summary>
internal static class RootfsLayout
{
    /// <summary>Top-level entries the engine provides itself; a rootfs's own are not bound.</summary>
    private static readonly HashSet<string> s_provided = ["proc", "dev", "tmp", "run", "sys"];

    /// <param name="etcDirectory">For the host rootfs: the prepared /etc (see <see cref="HostUserland.PrepareEtc"/>).</param>
    public static List<MountOp> Build(RootfsSpec rootfs, string workDir, Func<string>? etcDirectory = null)
    {
        var ops = new List<MountOp>();
        switch (rootfs)
        {
            case HostRootfs:
                foreach (var name in HostUserland.TopLevel)
                    AddEntry(ops, "/", name);
                ops.Add(new RoBind(etcDirectory?.Invoke() ?? throw new ArgumentNullException(nameof(etcDirectory)), "/etc"));
                break;
            case DirectoryRootfs dir:
                foreach (var entry in new DirectoryInfo(dir.Path).EnumerateFileSystemInfos())
                {
                    if (!s_provided.Contains(entry.Name) && entry.Name != workDir.TrimStart('/'))
                        AddEntry(ops, dir.Path, entry.Name);
                }
                break;
            case ImageRootfs image:
                // The overlay is mounted at ImageOverlay.MergedDirectory in the launcher's private mount namespace
                // (see ImageOverlay): the sandbox's own writable root over the image. Its top-level entries are the
                // image's, plus the work dir's mount point when the work dir lies inside the image's tree
                // (/home/runner): ImageOverlay makes it there, in the upper layer, before bwrap runs (bwrap, as the
                // sandbox's uid, may not mkdir in the image's root-owned /home). So every entry is bound whole.
                var made = WorkDirInImage(image.LowerDirectory, workDir);
                foreach (var entry in new DirectoryInfo(image.LowerDirectory).EnumerateFileSystemInfos())
                {
                    if (s_provided.Contains(entry.Name) || entry.Name == workDir.TrimStart('/'))
                        continue;
                    if (entry.LinkTarget is { } target)
                        ops.Add(new SymlinkOp(target, "/" + entry.Name));
                    else
                        ops.Add(new Bind(Path.Combine(ImageOverlay.MergedDirectory, entry.Name), "/" + entry.Name));
                }
                if (made is not null && made.Split('/')[0] is var first && !Path.Exists(Path.Combine(image.LowerDirectory, first)))
                    ops.Add(new Bind(Path.Combine(ImageOverlay.MergedDirectory, first), "/" + first));
                break;
            default:
                throw new SandboxException(SandboxErrorCode.Unimplemented, $"rootfs kind {rootfs.GetType().Name} is not supported by the container tier");
        }
        return ops;
    }

    /// <summary>The work dir relative to the root ("home/runner") when its mount point must be made in an image's
    /// overlay (<see cref="ImageOverlay"/>): it lies below a top-level entry the image's root provides (or one the engine
    /// does not), never a top-level work dir (bwrap makes that on its own root) nor one below /tmp, /run and the other
    /// entries the engine provides. Every part of it the image already has must be a real directory: a symbolic link
    /// would resolve on the host when the overlay script makes the rest, so it is refused (InvalidArgument) here,
    /// and again by the script.</summary>
    internal static string? WorkDirInImage(string lowerDirectory, string workDir)
    {
        var parts = workDir.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 2 || s_provided.Contains(parts[0]))
            return null;
        var path = lowerDirectory;
        for (var i = 0; i < parts.Length; i++)
        {
            path = Path.Combine(path, parts[i]);
            var info = new FileInfo(path);
            if (info.LinkTarget is not null || info.Exists)
                throw new SandboxException(SandboxErrorCode.InvalidArgument,
                    $"work dir '{workDir}' goes through /{string.Join('/', parts[..(i + 1)])}, which in the image is not a directory (a symbolic link or a file)");
            if (!Directory.Exists(path))
                break;
        }
        return string.Join('/', parts);
    }

    /// <summary>Symlinks are recreated (never followed on the host); directories and files are bound read-only.</summary>
    private static void AddEntry(List<MountOp> ops, string root, string name)
    {
        var source = Path.Combine(root, name);
        var info = new FileInfo(source);
        var destination = "/" + name;
        if (info.LinkTarget is not null)
            ops.Add(new SymlinkOp(info.LinkTarget, destination));
        else if (Directory.Exists(source) || info.Exists)
            ops.Add(new RoBind(source, destination));
    }
}
