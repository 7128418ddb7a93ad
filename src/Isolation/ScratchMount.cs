namespace Sandbox.Isolation;

/// <summary>A tmpfs the sandbox owns at <paramref name="Destination"/> (an OCI bundle's tmpfs mount, a Kubernetes
/// emptyDir of medium Memory): empty at start, gone with the sandbox, always nosuid and nodev. <paramref name="SizeBytes"/>
/// bounds it (0 = <see cref="DefaultSize"/>: 64 MiB or the disk cap, whichever is smaller, filled in by Core); it is never
/// larger than the disk cap the policy granted. Its pages are the sandbox's memory (the container's memory cgroup, the
/// microVM's guest RAM). The container tier mounts it with bwrap (which cannot make it noexec: refused there); the
/// microVM tier's guest agent mounts it in the guest root at set-up.</summary>
public sealed record ScratchMount(string Destination, long SizeBytes = 0, int Mode = 0x3FF /* 01777 */, bool ReadOnly = false, bool NoExec = false)
{
    public const int MaxCount = 16;
    public const long DefaultBytes = 64L << 20;

    /// <summary>The size a mount asked without one gets: 64 MiB, or the disk cap when that is smaller.</summary>
    public static long DefaultSize(long diskMiB) => Math.Min(DefaultBytes, diskMiB << 20);

    public ScratchMount Sized(long diskMiB) => SizeBytes > 0 ? this : this with { SizeBytes = DefaultSize(diskMiB) };

    internal static void Check(SandboxSpec spec, List<string> errors)
    {
        if (spec.ScratchMounts.Count > MaxCount)
            errors.Add($"scratch_mounts: {spec.ScratchMounts.Count} entries, at most {MaxCount}");
        var seen = new HashSet<string>(spec.HostMounts.Select(h => h.Destination), StringComparer.Ordinal);
        foreach (var m in spec.ScratchMounts)
        {
            var at = $"tmpfs mount at {m.Destination}";
            if (!HostMount.IsNormalizedAbsolute(m.Destination) || m.Destination == "/")
                errors.Add($"{at}: the destination must be an absolute path without '.', '..' or empty segments, not /");
            else if (HostMount.IsEngineDir(m.Destination, spec.WorkDir) is { } dirs)
                errors.Add($"{at}: the destination is the sandbox's own ({dirs} take no mounts)");
            else if (!seen.Add(m.Destination))
                errors.Add($"{at}: the destination is mounted twice (another tmpfs or a host mount)");
            if (m.SizeBytes <= 0)
                errors.Add($"{at}: size {m.SizeBytes} must be positive");
            else if (m.SizeBytes > spec.Limits.DiskMiB << 20)
                errors.Add($"{at}: size {m.SizeBytes} bytes is larger than the disk cap granted ({spec.Limits.DiskMiB} MiB)");
            if (m.Mode is < 0 or > 0xFFF)
                errors.Add($"{at}: mode {Convert.ToString(m.Mode, 8)} must be at most 07777");
        }
    }
}
