using Sandbox.Isolation;
using Sandbox.Policy;

namespace Sandbox.SandboxApi.Orchestration;

/// <summary>The policy said no. Carries the decision so the API can return its id and reasons.</summary>
public sealed class PolicyDeniedException(PolicyDecision decision)
    : SandboxException(SandboxErrorCode.PermissionDenied,
        $"denied by policy (decision {decision.DecisionId}): {string.Join("; ", decision.Reasons)}")
{
    public PolicyDecision Decision { get; } = decision;
}
