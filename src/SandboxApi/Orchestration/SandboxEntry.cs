using Sandbox.Isolation;
using Sandbox.Policy;

namespace Sandbox.SandboxApi.Orchestration;

public enum SandboxLifecycle
{
    Creating,
    Running,
    Stopped,
    Failed,
}

/// <summary>One sandbox sandboxd knows about: who owns it, what the policy decided, what it really got, and the live
/// engine object while it runs.</summary>
public sealed class SandboxEntry
{
    public required SandboxId Id { get; init; }
    public required string Tenant { get; init; }
    public required IReadOnlyDictionary<string, string> Labels { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
    public required PolicyDecision Decision { get; init; }
    public required SandboxTier Tier { get; init; }
    /// <summary>The memory limit counted against the tenant's quota, MiB.</summary>
    public required long MemoryMiB { get; init; }

    public SandboxLifecycle State { get; internal set; } = SandboxLifecycle.Creating;
    public string? StateDetail { get; internal set; }
    /// <summary>What the sandbox really got (set once it runs).</summary>
    public SandboxInfo? Info { get; internal set; }
    internal ISandbox? Sandbox { get; set; }
    internal IDisposable? Reservation { get; set; }

    public bool CanExec => State == SandboxLifecycle.Running && Sandbox is not null;
}
