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
                // (see ImageOverlay); its top-level entries are those of the lower layer when the sandbox starts.
                // A work dir inside an image directory (/home/runner) has its parents made by bwrap on its own root
                // (bwrap, as the sandbox's uid, may not mkdir in the image's root-owned /home): see ImageRootEntries.
                foreach (var entry in Images.ImageRootEntries.Enumerate(image.LowerDirectory, workDir, s_provided))
                {
                    var destination = "/" + entry.Path;
                    if (entry.LinkTarget is { } target)
                        ops.Add(new SymlinkOp(target, destination));
                    else
                        ops.Add(new Bind(Path.Combine(ImageOverlay.MergedDirectory, entry.Path), destination));
                }
                break;
            default:
                throw new SandboxException(SandboxErrorCode.Unimplemented, $"rootfs kind {rootfs.GetType().Name} is not supported by the container tier");
        }
        return ops;
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
