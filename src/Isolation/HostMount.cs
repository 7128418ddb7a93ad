namespace Sandbox.Isolation;

/// <summary>A host directory or file shown inside the sandbox at <paramref name="Destination"/> (an OCI bundle's bind
/// mount), read-only unless <paramref name="ReadOnly"/> is false. The microVM tier takes these (a virtio-9p share
/// through the VMM jail, <see cref="MicroVm.HostMountShares"/>); on the container tier the caller binds into the root
/// it gives (the shim does), and the driver refuses them rather than drop them.</summary>
public sealed record HostMount(string Source, string Destination, bool ReadOnly = true)
{
    public const int MaxCount = 16;

    /// <summary>Where the sandbox has its own file systems: a host mount there would be hidden or hide them.</summary>
    private static readonly string[] s_engineDirs = ["/proc", "/dev", "/tmp", "/run", "/sys"];

    internal static void Check(SandboxSpec spec, List<string> errors)
    {
        if (spec.HostMounts.Count > MaxCount)
            errors.Add($"host_mounts: {spec.HostMounts.Count} entries, at most {MaxCount}");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var m in spec.HostMounts)
        {
            var at = $"host mount {m.Source} → {m.Destination}";
            if (!IsNormalizedAbsolute(m.Source) || m.Source == "/")
                errors.Add($"{at}: the source must be an absolute host path without '.', '..' or empty segments, not /");
            if (!IsNormalizedAbsolute(m.Destination) || m.Destination == "/")
                errors.Add($"{at}: the destination must be an absolute path without '.', '..' or empty segments, not /");
            else if (IsEngineDir(m.Destination, spec.WorkDir) is { } dirs)
                errors.Add($"{at}: the destination is the sandbox's own ({dirs} take no host mounts)");
            else if (!seen.Add(m.Destination))
                errors.Add($"{at}: the destination is mounted twice");
        }
    }

    /// <summary>Where host mounts cannot be given: refused naming why, never dropped.</summary>
    internal static void Refuse(SandboxSpec spec, string why)
    {
        if (spec.HostMounts.Count > 0)
            throw new SandboxException(SandboxErrorCode.FailedPrecondition,
                $"host mounts ({string.Join(", ", spec.HostMounts.Select(m => m.Destination))}) {why}");
    }

    /// <summary>The sandbox's own directories, listed, when <paramref name="destination"/> is one of them or below one;
    /// otherwise null.</summary>
    internal static string? IsEngineDir(string destination, string workDir) =>
        s_engineDirs.Append(workDir).Any(d => destination == d || destination.StartsWith(d + "/", StringComparison.Ordinal))
            ? string.Join(", ", s_engineDirs.Append(workDir))
            : null;

    internal static bool IsNormalizedAbsolute(string path) =>
        path.Length is > 0 and <= SpecValidator.MaxPathLength && path[0] == '/' && !path.Contains('\0')
        && (path == "/" || path[1..].Split('/').All(c => c is not ("" or "." or "..")));
}
