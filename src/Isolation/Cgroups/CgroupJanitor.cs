namespace Sandbox.Isolation.Cgroups;

/// <summary>Removes the empty cgroups of sandboxes whose owner died without tearing them down (kill -9 of the CLI:
/// bwrap's --die-with-parent takes the processes, but the empty cgroup directories stay). A cgroup is the janitor's
/// only when its owner is dead: the owner's lock on it is free (<see cref="CgroupOwnerLock"/>, dropped by the kernel
/// when the owner dies), so a cgroup another live process is creating or using is never touched. One with tasks left is
/// not removed either (a sandbox that outlives its owner is for its owner's restart to re-attach or reclaim).</summary>
internal static class CgroupJanitor
{
    public static int RemoveStale(CgroupLayout layout, string parentName)
    {
        var removed = 0;
        foreach (var id in CgroupFactory.List(layout, parentName))
        {
            if (RemoveIfOwnerDead(layout, parentName, id))
                removed++;
        }
        return removed;
    }

    private static bool RemoveIfOwnerDead(CgroupLayout layout, string parentName, SandboxId id)
    {
        var dirs = layout.Version switch
        {
            CgroupVersion.V2 => [Path.Combine(layout.UnifiedRoot!, parentName, id.Value)],
            // The memory directory holds the lock and goes last.
            CgroupVersion.V1 => layout.V1Mounts.OrderBy(m => m.Key == "memory" ? 1 : 0).Select(m => Path.Combine(m.Value, parentName, id.Value))
                .Distinct().ToArray(),
            _ => [],
        };
        var lockDir = dirs.LastOrDefault();
        if (lockDir is null || CgroupOwnerLock.TryTake(lockDir) is not { } owner)
            return false;
        using (owner)
        {
            if (dirs.Any(d => Directory.Exists(d) && CgroupFiles.ReadPidsRecursive(d).Count > 0))
                return false;
            try
            {
                foreach (var dir in dirs.Where(Directory.Exists))
                {
                    // A long-lived sandbox's agent and per-exec cgroups first (empty, as checked above).
                    foreach (var child in CgroupFiles.Children(dir))
                        Directory.Delete(child);
                    Directory.Delete(dir);
                }
                return true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Busy (a task arrived) or already gone: not ours to force.
                return false;
            }
        }
    }
}
