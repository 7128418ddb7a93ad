using Sandbox.Policy;

namespace Sandbox.Core;

/// <summary>What Core needs from its host's configuration. Each face maps its own configuration onto this (sandboxd
/// from its YAML file, the CLI from its defaults); Core never reads a face's configuration types.</summary>
public sealed record SandboxCoreOptions
{
    /// <summary>Directory of the sandbox records ({dir}/sandboxes/{id}.json); null = nothing is persisted (a CLI run,
    /// whose sandboxes die with it).</summary>
    public string? StateDirectory { get; init; }

    /// <summary>TTL of a sandbox created without one. Default 1 h.</summary>
    public TimeSpan DefaultTtl { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Longest TTL a caller may ask for. Default 24 h.</summary>
    public TimeSpan MaxTtl { get; init; } = TimeSpan.FromHours(24);

    /// <summary>How often expired sandboxes are looked for. Default 5 s.</summary>
    public TimeSpan ReapInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Quota of a tenant that has no entry in <see cref="Quotas"/>.</summary>
    public TenantQuota DefaultQuota { get; init; } = new();

    /// <summary>Quotas by tenant name.</summary>
    public IReadOnlyDictionary<string, TenantQuota> Quotas { get; init; } = new Dictionary<string, TenantQuota>();

    /// <summary>Host ceilings the policy engine clamps every decision to.</summary>
    public HostCeilings Ceilings { get; init; } = new();

    /// <summary>Long-lived sandboxes survive their owner's death and are re-attached by the next one (a daemon);
    /// false = they die with the owning process (bwrap --die-with-parent).</summary>
    public bool SandboxesOutliveOwner { get; init; }

    /// <summary>The image store that <see cref="SandboxRequest.Image"/> names are resolved in. Default
    /// /var/cache/sandbox/images (see <see cref="Isolation.Images.ImageStoreOptions"/>).</summary>
    public Isolation.Images.ImageStoreOptions Images { get; init; } = new();

    /// <summary>Warm pools (<see cref="SandboxPools"/>); default none.</summary>
    public PoolOptions Pools { get; init; } = new();
}

/// <summary>How much one tenant may hold at once: sandboxes (long-lived and running one-shots) and the sum of their
/// memory limits, MiB.</summary>
public sealed record TenantQuota(int MaxSandboxes = 32, long MaxMemoryMiB = 16384);
