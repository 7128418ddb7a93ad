namespace Sandbox.Isolation.Cgroups;

/// <summary>Removes sandbox cgroups whose owner died without tearing them down (kill -9 of the CLI or daemon: bwrap's
/// --die-with-parent takes the processes, but the empty cgroup directories stay). Only empty cgroups older than a
/// grace period are removed, so a cgroup that another engine process is still setting up is never touched; rmdir of
/// a cgroup with tasks fails anyway.</summary>
internal static class CgroupJanitor
{
    public static int RemoveStale(CgroupLayout layout, string parentName, TimeSpan minimumAge)
    {
        var roots = layout.Version switch
        {
            CgroupVersion.V2 => [layout.UnifiedMount!],
            CgroupVersion.V1 => layout.V1Mounts.Values.Distinct().ToArray(),
            _ => Array.Empty<string>(),
        };
        var removed = 0;
        var cutoff = DateTime.UtcNow - minimumAge;
        foreach (var root in roots)
        {
            var parent = Path.Combine(root, parentName);
            if (!Directory.Exists(parent))
                continue;
            foreach (var dir in Directory.EnumerateDirectories(parent))
            {
                if (!SandboxId.TryParse(Path.GetFileName(dir), out _) || Directory.GetCreationTimeUtc(dir) > cutoff)
                    continue;
                if (CgroupFiles.ReadPids(dir).Count > 0)
                    continue;
                try
                {
                    Directory.Delete(dir);
                    removed++;
                }
                catch (IOException)
                {
                    // Busy (tasks arrived) or already gone: not ours to force.
                }
            }
        }
        return removed;
    }
}
