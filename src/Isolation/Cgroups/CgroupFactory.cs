using Sandbox.Isolation.Cgroups.V1;
using Sandbox.Isolation.Cgroups.V2;

namespace Sandbox.Isolation.Cgroups;

/// <summary>Creates a sandbox's cgroup on whichever version the host runs, so callers never branch on it.</summary>
internal static class CgroupFactory
{
    public static ICgroup Create(CgroupLayout layout, string parentName, SandboxId id, ResourceLimits limits) => layout.Version switch
    {
        CgroupVersion.V2 => CgroupV2.Create(layout.UnifiedRoot!, parentName, id, limits),
        CgroupVersion.V1 => CgroupV1.Create(layout.V1Mounts, parentName, id, limits),
        _ => throw new SandboxException(SandboxErrorCode.Unavailable,
            "no usable cgroup controllers (memory, pids) on this host: limits cannot be enforced, so no sandbox is started"),
    };

    /// <summary>A sandbox's existing cgroup (left behind by a process that died), or null.</summary>
    public static ICgroup? Open(CgroupLayout layout, string parentName, SandboxId id) => layout.Version switch
    {
        CgroupVersion.V2 => CgroupV2.Open(layout.UnifiedRoot!, parentName, id),
        CgroupVersion.V1 => CgroupV1.Open(layout.V1Mounts, parentName, id),
        _ => null,
    };

    /// <summary>Ids of the sandbox cgroups under the parent (on the memory hierarchy for v1).</summary>
    public static IReadOnlyList<SandboxId> List(CgroupLayout layout, string parentName)
    {
        var root = layout.Version switch
        {
            CgroupVersion.V2 => layout.UnifiedRoot,
            CgroupVersion.V1 => layout.V1Mounts.GetValueOrDefault("memory"),
            _ => null,
        };
        if (root is null || !Directory.Exists(Path.Combine(root, parentName)))
            return [];
        return Directory.EnumerateDirectories(Path.Combine(root, parentName))
            .Select(d => SandboxId.TryParse(Path.GetFileName(d), out var id) ? id : (SandboxId?)null)
            .OfType<SandboxId>()
            .ToList();
    }

    /// <summary>A sub-cgroup name the engine makes (the agent's, an exec's): one path component of [A-Za-z0-9_-].</summary>
    public static void CheckChildName(string name)
    {
        if (name.Length is 0 or > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
            throw new ArgumentException($"sub-cgroup name '{name}' must be 1-64 characters of [A-Za-z0-9_-]", nameof(name));
    }

    public const long CpuPeriodMicroseconds = 100_000;

    public static long CpuQuotaMicroseconds(double cpus) => (long)Math.Ceiling(cpus * CpuPeriodMicroseconds);

    /// <summary>Polls until no task is left or the deadline passes; cgroups have no cheap async "empty" event on v1.
    /// The error names the tasks still there (<paramref name="tasksDir"/>'s, <see cref="CgroupTaskStates"/>).</summary>
    public static async Task WaitEmptyAsync(Func<bool> isEmpty, TimeSpan timeout, CancellationToken cancellationToken, string? tasksDir = null)
    {
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        var delay = 1;
        while (!isEmpty())
        {
            if (Environment.TickCount64 > deadline)
                throw new SandboxException(SandboxErrorCode.Internal, $"cgroup still has tasks {timeout.TotalSeconds:0.#} s after SIGKILL" +
                    (tasksDir is not null && CgroupTaskStates.Describe(tasksDir) is { Length: > 0 } tasks ? "; " + tasks : ""));
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            delay = Math.Min(delay * 2, 20);
        }
    }
}
