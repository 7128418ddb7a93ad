using Sandbox.Isolation;

namespace Sandbox.Core;

public enum SandboxEventKind
{
    /// <summary>Admitted by the policy and the quotas; its driver is launching it.</summary>
    Created,
    /// <summary>Running (a long-lived sandbox, or the one process of a one-shot run).</summary>
    Started,
    /// <summary>A one-shot run's process ended (<see cref="SandboxEvent.Status"/>), or a sandbox died.</summary>
    Exited,
    /// <summary>A process was killed at its sandbox's memory limit (<see cref="SandboxEvent.Status"/>).</summary>
    Oom,
    Paused,
    Resumed,
    /// <summary>Torn down; <see cref="SandboxEvent.Detail"/> says why (deleted, expired, shutdown, failed launch).</summary>
    Deleted,
}

/// <summary>Something that happened to a sandbox, in the order Core saw it.</summary>
public sealed record SandboxEvent(SandboxEventKind Kind, SandboxId Id, string Tenant, SandboxTier Tier, DateTimeOffset Time,
    ExitStatus? Status = null, string? Detail = null);
