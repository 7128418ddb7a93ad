namespace Sandbox.Isolation.Cgroups;

public enum CgroupVersion
{
    /// <summary>No usable controllers were found.</summary>
    None,
    /// <summary>Legacy or hybrid: memory, pids, cpu and freezer as separate v1 hierarchies.</summary>
    V1,
    /// <summary>Unified hierarchy with the memory, pids and cpu controllers.</summary>
    V2,
}

/// <summary>Where the host mounts its cgroup controllers, read from /proc/self/mountinfo once.</summary>
public sealed record CgroupLayout(CgroupVersion Version, string? UnifiedMount, IReadOnlyDictionary<string, string> V1Mounts)
{
    private static readonly Lazy<CgroupLayout> s_host = new(() =>
    {
        var layout = Parse(File.ReadAllText("/proc/self/mountinfo"));
        return layout.Version == CgroupVersion.V2 ? layout with { UnifiedRoot = V2.PlacementRoot.Resolve(layout.UnifiedMount!) } : layout;
    });

    public static CgroupLayout Host => s_host.Value;

    private readonly string? _unifiedRoot;

    /// <summary>v2: the directory below which sandbox cgroup parents are created (<see cref="V2.PlacementRoot"/>: a
    /// delegated subtree or cgroup-namespace root); the mount itself unless resolved.</summary>
    public string? UnifiedRoot { get => _unifiedRoot ?? UnifiedMount; init => _unifiedRoot = value; }

    /// <summary>A hybrid host has a cgroup2 mount without controllers next to v1 hierarchies; the v1 controllers win.</summary>
    public static CgroupLayout Parse(string mountinfo)
    {
        string? unified = null;
        var v1 = new Dictionary<string, string>();
        foreach (var line in mountinfo.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
            var sep = line.IndexOf(" - ", StringComparison.Ordinal);
            if (sep < 0)
                continue;
            var left = line[..sep].Split(' ');
            var right = line[(sep + 3)..].Split(' ');
            if (left.Length < 5 || right.Length < 3)
                continue;
            var mountPoint = left[4].Replace("\\040", " ");
            if (right[0] == "cgroup2")
                unified ??= mountPoint;
            else if (right[0] == "cgroup")
            {
                foreach (var opt in right[2].Split(','))
                {
                    if (opt is "memory" or "pids" or "cpu" or "cpuacct" or "freezer")
                        v1.TryAdd(opt, mountPoint);
                }
            }
        }
        if (unified is not null)
        {
            var controllers = File.Exists(Path.Combine(unified, "cgroup.controllers"))
                ? File.ReadAllText(Path.Combine(unified, "cgroup.controllers")).Split(' ', '\n')
                : [];
            if (controllers.Contains("memory") && controllers.Contains("pids"))
                return new CgroupLayout(CgroupVersion.V2, unified, v1);
        }
        if (v1.ContainsKey("memory") && v1.ContainsKey("pids"))
            return new CgroupLayout(CgroupVersion.V1, unified, v1);
        return new CgroupLayout(CgroupVersion.None, unified, v1);
    }

    public string Describe() => Version switch
    {
        CgroupVersion.V2 when UnifiedRoot != UnifiedMount => $"v2 (unified at {UnifiedMount}; sandboxes under {UnifiedRoot})",
        CgroupVersion.V2 => $"v2 (unified at {UnifiedMount})",
        CgroupVersion.V1 when UnifiedMount is not null => $"hybrid (v1 controllers: {string.Join(", ", V1Mounts.Keys.Order())}; empty v2 at {UnifiedMount})",
        CgroupVersion.V1 => $"v1 ({string.Join(", ", V1Mounts.Keys.Order())})",
        _ => "none usable (memory and pids controllers not found)",
    };
}
