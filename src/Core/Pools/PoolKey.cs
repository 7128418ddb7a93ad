using Sandbox.Isolation;

namespace Sandbox.Core;

/// <summary>Everything about a sandbox that is fixed when it is launched, read off its translated spec: two specs with
/// equal keys can be served by the same pooled sandbox. Limits the tier can change later (the driver's UpdateLimits
/// capability: memory, CPU, wall time and output caps on the container tier) are left out and applied at claim time;
/// on a tier that cannot change them they are part of the key. Environment and id are not part of it (the id is the
/// pooled sandbox's own; see <see cref="SandboxPools"/> for the environment).</summary>
public sealed record PoolKey(
    SandboxTier Tier,
    RootfsSpec Rootfs,
    NetworkMode Network,
    string SyscallProfile,
    string ExtraSyscalls,
    string Hostname,
    string WorkDir,
    SandboxUser? User,
    bool AllowNestedUserNamespaces,
    bool DieWithOwner,
    bool RequireHardwareVirtualization,
    Isolation.ResourceLimits FixedLimits)
{
    /// <summary>The key of <paramref name="spec"/>, or null when no pooled sandbox can ever serve it: network egress
    /// (its allowlist is resolved and pinned per sandbox at launch), a network joined or loopback names (fixed at launch), a pod's host (its VM has the pod share).</summary>
    public static PoolKey? Of(SandboxTier tier, SandboxSpec spec, bool limitsChangeable)
    {
        if (spec.Network != NetworkMode.None || spec.EgressAllow.Count > 0 || spec.PublishedPorts.Count > 0 || spec.NetworkOf is not null
            || spec.LoopbackNames.Count > 0 || spec.HostsPod || spec.HostMounts.Count > 0 || spec.ScratchMounts.Count > 0)
            return null;
        var fixedLimits = limitsChangeable
            ? spec.Limits with { MemoryMiB = 0, Cpus = 0, WallTime = null, OutputBytes = 0 }
            : spec.Limits;
        return new PoolKey(tier, spec.Rootfs, spec.Network, spec.SyscallProfile, string.Join(',', spec.ExtraSyscalls.Order(StringComparer.Ordinal)),
            spec.Hostname, spec.WorkDir, spec.User, spec.AllowNestedUserNamespaces, spec.DieWithOwner, spec.RequireHardwareVirtualization, fixedLimits);
    }
}
