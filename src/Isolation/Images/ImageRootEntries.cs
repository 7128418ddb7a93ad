namespace Sandbox.Isolation.Images;

/// <summary>What of an image's root a sandbox binds into place, for both tiers: each top-level entry, except those the
/// engine provides itself and the work dir. The image's root is read-only to the sandbox's setup (bwrap runs as an
/// unprivileged uid; a microVM's root is an erofs disk), so the work dir's mount point cannot be made inside an image
/// directory (/home/runner in the image's /home). The directories on the way to the work dir are therefore not bound
/// whole: they are made on the sandbox's own root and their entries bound one level down, and the work dir itself is
/// left to its tmpfs.</summary>
public static class ImageRootEntries
{
    /// <summary>One entry to place: <see cref="Path"/> relative to the image's root ("usr", "home/alice"), and its link
    /// target when it is a symbolic link (recreated as a link, never followed on the host).</summary>
    public sealed record Entry(string Path, string? LinkTarget);

    public static IReadOnlyList<Entry> Enumerate(string rootPath, string workDir, IReadOnlySet<string> providedTopLevel)
    {
        var entries = new List<Entry>();
        Add(rootPath, "", workDir.Split('/', StringSplitOptions.RemoveEmptyEntries), workDir, providedTopLevel, entries);
        return entries;
    }

    private static void Add(string rootPath, string relative, ReadOnlySpan<string> workDirRest, string workDir, IReadOnlySet<string> provided,
        List<Entry> entries)
    {
        foreach (var entry in new DirectoryInfo(System.IO.Path.Combine(rootPath, relative)).EnumerateFileSystemInfos())
        {
            if (relative.Length == 0 && provided.Contains(entry.Name))
                continue;
            var path = relative.Length == 0 ? entry.Name : relative + "/" + entry.Name;
            if (workDirRest.Length > 0 && entry.Name == workDirRest[0])
            {
                if (workDirRest.Length == 1)
                    continue;
                if (entry.LinkTarget is not null || entry is not DirectoryInfo)
                    throw new SandboxException(SandboxErrorCode.InvalidArgument,
                        $"work dir '{workDir}' goes through /{path}, which in the image is not a directory (a symbolic link or a file)");
                Add(rootPath, path, workDirRest[1..], workDir, provided, entries);
                continue;
            }
            entries.Add(new Entry(path, entry.LinkTarget));
        }
    }
}
