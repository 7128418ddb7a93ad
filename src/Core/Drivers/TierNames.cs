using Sandbox.Isolation;
using Sandbox.Policy;

namespace Sandbox.Core;

/// <summary>Engine tiers ↔ the names the policy uses.</summary>
public static class TierNames
{
    public static string ToPolicy(SandboxTier tier) => tier switch
    {
        SandboxTier.Container => IsolationTiers.Container,
        SandboxTier.MicroVm => IsolationTiers.MicroVm,
        _ => throw new ArgumentOutOfRangeException(nameof(tier), tier, null),
    };

    public static SandboxTier FromPolicy(string name) => name switch
    {
        IsolationTiers.Container => SandboxTier.Container,
        IsolationTiers.MicroVm => SandboxTier.MicroVm,
        _ => throw new SandboxException(SandboxErrorCode.Internal, $"the policy chose an unknown tier '{name}'"),
    };

    public static string ToPolicy(Accelerator accelerator) => accelerator switch
    {
        Accelerator.Kvm => "kvm",
        Accelerator.Tcg => "tcg",
        _ => "none",
    };
}
