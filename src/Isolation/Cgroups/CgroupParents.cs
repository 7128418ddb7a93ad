namespace Sandbox.Isolation.Cgroups;

/// <summary>The cgroup parents an engine's sandboxes live under ("sandboxd", "sandboxd-vm"), on every hierarchy. An
/// orderly stop that has deleted every sandbox removes them too, so nothing of the engine is left in the cgroup tree.</summary>
public static class CgroupParents
{
    /// <summary>Removes <paramref name="parentName"/> on each hierarchy of <paramref name="layout"/> (the host's by
    /// default) where it is empty; one that still holds a sandbox (left running for a restart, or that failed to go) is
    /// left alone: rmdir refuses a cgroup with children. Returns the directories removed.</summary>
    public static IReadOnlyList<string> RemoveIfEmpty(string parentName, CgroupLayout? layout = null)
    {
        layout ??= CgroupLayout.Host;
        var roots = layout.Version switch
        {
            CgroupVersion.V2 => [layout.UnifiedRoot!],
            CgroupVersion.V1 => layout.V1Mounts.Values.Distinct().ToArray(),
            _ => Array.Empty<string>(),
        };
        var removed = new List<string>();
        foreach (var root in roots)
        {
            var dir = Path.Combine(root, parentName);
            try
            {
                if (Directory.Exists(dir) && !Directory.EnumerateDirectories(dir).Any())
                {
                    Directory.Delete(dir);
                    removed.Add(dir);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // EBUSY: a sandbox (or its owner) arrived meanwhile; the next orderly stop or start-up takes it.
            }
        }
        return removed;
    }
}
