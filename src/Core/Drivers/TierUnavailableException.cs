using Sandbox.Isolation;

namespace Sandbox.Core;

/// <summary>The tier a decision chose has no usable driver on this host. Its code stays Unavailable for the engine's
/// callers; faces that separate permanent refusals from transient failures recognise it by type.</summary>
public sealed class TierUnavailableException(SandboxTier tier, string message) : SandboxException(SandboxErrorCode.Unavailable, message)
{
    public SandboxTier Tier { get; } = tier;
}
