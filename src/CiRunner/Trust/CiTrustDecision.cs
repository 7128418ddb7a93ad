using Sandbox.Isolation;

namespace Sandbox.CiRunner.Trust;

/// <summary>What the CI policy decided for one job: its trust ("trusted", "fork" or "unknown"), the tier it asks
/// Core for, whether it gets the run's secrets, the egress it may ask for, and why.</summary>
public sealed record CiTrustDecision(string Trust, SandboxTier Tier, bool Secrets, IReadOnlyList<string> Egress, IReadOnlyList<string> Reasons)
{
    public bool Trusted => Trust == "trusted";

    /// <summary>The strictest decision: what a policy failure gives (fail closed).</summary>
    public static CiTrustDecision Strictest(string reason) => new("unknown", SandboxTier.MicroVm, false, [], [reason]);
}
