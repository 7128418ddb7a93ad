using Sandbox.Isolation;
using Sandbox.Policy;

namespace Sandbox.Core;

/// <summary>The policy said no. Carries the decision so a face can return its id and reasons.</summary>
public sealed class PolicyDeniedException(PolicyDecision decision)
    : SandboxException(SandboxErrorCode.PermissionDenied,
        $"denied by policy (decision {decision.DecisionId}): {string.Join("; ", decision.Reasons)}")
{
    public PolicyDecision Decision { get; } = decision;
}
