using Sandbox.Isolation.Interop;

namespace Sandbox.Isolation.Cgroups.V2;

/// <summary>Makes controllers available to the cgroups created below a directory, level by level, the way the kernel
/// accepts it: one controller per write to cgroup.subtree_control (a write of several fails as a whole, with the errno
/// of the first refused one), only controllers the level's cgroup.controllers lists (the others were not delegated:
/// the kernel answers ENOENT), and never on a cgroup that still holds processes of its own (the no-internal-process
/// rule: EBUSY). A delegated root or cgroup-namespace root that holds processes has them moved to a leaf first, as
/// container runtimes do; the hierarchy's real root is exempt from the rule and is never touched that way.</summary>
internal static class SubtreeControllers
{
    /// <summary>Where the processes found in a delegated root go, so the root can enable controllers for children.</summary>
    public const string LeafForMovedProcesses = "init";

    public static readonly string[] Required = ["memory", "pids"];

    /// <summary>Enables <paramref name="controllers"/> on <paramref name="root"/> and on each directory from it down to
    /// <paramref name="parent"/> (inclusive), which must lie under root.</summary>
    public static void Enable(string root, string parent, IReadOnlyList<string> controllers)
    {
        foreach (var level in Levels(root, parent))
        {
            // All offered, or nothing written on this level: a refusal leaves the level as it was.
            foreach (var controller in controllers)
                RequireAvailable(level, controller, level == root);
            foreach (var controller in controllers)
                EnableOne(level, controller, level == root);
        }
    }

    /// <summary>Enables <paramref name="controllers"/> for the children of <paramref name="directory"/> (a sandbox's own
    /// cgroup, below the placement root): all offered, or nothing written.</summary>
    public static void EnableForChildren(string directory, IReadOnlyList<string> controllers)
    {
        foreach (var controller in controllers)
            RequireAvailable(directory, controller, isRoot: false);
        foreach (var controller in controllers)
            EnableOne(directory, controller, isRoot: false);
    }

    /// <summary>The controllers a sandbox's cgroup gets: memory and pids always, cpu when the root offers it or the
    /// sandbox asks for a CPU limit (then its absence is an error that names it).</summary>
    public static IReadOnlyList<string> For(string root, bool cpuLimit) =>
        cpuLimit || Available(root).Contains("cpu") ? [.. Required, "cpu"] : Required;

    public static HashSet<string> Available(string directory) => Tokens(CgroupFiles.TryRead(directory, "cgroup.controllers"));

    public static HashSet<string> Enabled(string directory) => Tokens(CgroupFiles.TryRead(directory, "cgroup.subtree_control"));

    private static void RequireAvailable(string level, string controller, bool isRoot)
    {
        if (!Available(level).Contains(controller))
            throw new SandboxException(SandboxErrorCode.Unavailable,
                $"the {controller} controller is not available in {level} (cgroup.controllers: '{CgroupFiles.TryRead(level, "cgroup.controllers")?.Trim()}'): " +
                (isRoot ? "the cgroup above it did not delegate it" : "it was disabled above") +
                (controller == "cpu" ? "; run without a CPU limit, or delegate cpu (systemd: Delegate=yes or Delegate=cpu ...)" : ""));
    }

    private static void EnableOne(string level, string controller, bool isRoot)
    {
        if (Enabled(level).Contains(controller))
            return;
        if (isRoot && HoldsProcesses(level) && !IsHierarchyRoot(level))
            MoveProcessesToLeaf(level);
        var errno = CgroupFiles.WriteControl(level, "cgroup.subtree_control", "+" + controller);
        if (errno == 0)
            return;
        var why = errno switch
        {
            Errno.EBUSY when HoldsProcesses(level) => isRoot
                ? $"{level} (the cgroup namespace root or delegated cgroup) holds processes of its own, and a cgroup with processes cannot enable controllers for children"
                : $"{level} holds processes of its own, and a cgroup with processes cannot enable controllers for children",
            Errno.EBUSY => $"{level} is busy (a threaded cgroup, or a child in another mode)",
            Errno.ENOENT => $"the kernel does not offer {controller} in {level} (not delegated from above)",
            _ => CgroupFiles.Describe(errno),
        };
        throw new SandboxException(SandboxErrorCode.Unavailable, $"cannot enable the {controller} controller in {level}/cgroup.subtree_control: {why}");
    }

    /// <summary>Moves every process of <paramref name="directory"/> into its leaf child (repeated: one may fork while
    /// the list is read). A process that exits meanwhile is fine; any other refusal is reported by the enable that
    /// follows.</summary>
    internal static void MoveProcessesToLeaf(string directory)
    {
        var leaf = Path.Combine(directory, LeafForMovedProcesses);
        CgroupFiles.EnsureDirectory(leaf);
        for (var round = 0; round < 5; round++)
        {
            var pids = CgroupFiles.ReadPids(directory);
            if (pids.Count == 0)
                return;
            foreach (var pid in pids)
                CgroupFiles.WriteControl(leaf, "cgroup.procs", pid.ToString());
        }
    }

    private static bool HoldsProcesses(string directory) => CgroupFiles.ReadPids(directory).Count > 0;

    /// <summary>The real root of a cgroup2 hierarchy has no cgroup.type (a namespace root and every other cgroup do);
    /// only it may hold processes and enable controllers at once.</summary>
    private static bool IsHierarchyRoot(string directory) => !File.Exists(Path.Combine(directory, "cgroup.type"));

    private static IEnumerable<string> Levels(string root, string parent)
    {
        var relative = Path.GetRelativePath(root, parent);
        if (relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative))
            throw new ArgumentException($"{parent} is not under {root}", nameof(parent));
        yield return root;
        if (relative == ".")
            yield break;
        var current = root;
        foreach (var part in relative.Split('/'))
        {
            current = Path.Combine(current, part);
            yield return current;
        }
    }

    /// <summary>Controller names in a cgroup.controllers / cgroup.subtree_control text ("+name" as a fake keeps it
    /// counts too).</summary>
    private static HashSet<string> Tokens(string? text) =>
        text is null ? [] : text.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries).Select(t => t.TrimStart('+')).ToHashSet();
}
