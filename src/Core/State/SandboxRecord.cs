using Sandbox.Isolation;
using Sandbox.Policy;

namespace Sandbox.Core;

/// <summary>What is written to disk for each long-lived sandbox ({state_dir}/sandboxes/{id}.json), so a restarted
/// owner knows what it had: enough to re-attach it when it still runs (<see cref="Attachment"/>) and to find and
/// reclaim what is left of it when it does not.</summary>
public sealed record SandboxRecord
{
    public required string Id { get; init; }
    public required string Tenant { get; init; }
    public required string Tier { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
    public string? CgroupPath { get; init; }
    public int HostUid { get; init; }
    public string? DecisionId { get; init; }
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    /// <summary>The policy decision it was created under (reported again after a re-attach).</summary>
    public PolicyDecision? Decision { get; init; }
    /// <summary>The driver's re-attach record (opaque: stored and handed back unchanged, see
    /// ISandboxDriver.AttachAsync); null when the sandbox cannot be taken back.</summary>
    public SandboxAttachment? Attachment { get; init; }
}
