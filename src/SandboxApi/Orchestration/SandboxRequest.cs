using Sandbox.Isolation;

namespace Sandbox.SandboxApi.Orchestration;

/// <summary>What a caller asks for when creating a sandbox (or a one-shot run): a hint to the policy, which decides.</summary>
public sealed record SandboxRequest
{
    /// <summary>null = auto (the policy decides).</summary>
    public SandboxTier? Tier { get; init; }
    /// <summary>Absolute host directory used as the root; null = the host's userland.</summary>
    public string? Rootfs { get; init; }
    public string? Image { get; init; }
    public RequestedLimits Resources { get; init; } = new();
    /// <summary>Egress hosts wanted; empty = no network.</summary>
    public IReadOnlyList<string> Egress { get; init; } = [];
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    /// <summary>null = the configured default TTL.</summary>
    public TimeSpan? Ttl { get; init; }
    public string? WorkDir { get; init; }
    public IReadOnlyList<string> Syscalls { get; init; } = [];
    public bool Untrusted { get; init; }
    /// <summary>"tenant", "fork" or "unknown".</summary>
    public string CodeProvenance { get; init; } = "tenant";
}

/// <summary>Requested limits; null = the policy's default.</summary>
public sealed record RequestedLimits(long? MemoryMiB = null, double? Vcpus = null, int? Pids = null, long? DiskMiB = null,
    int? TimeoutS = null, long? OutputBytes = null);
