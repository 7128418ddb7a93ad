namespace Sandbox.KataShim.Tasks;

/// <summary>Who asks Core for containerd's containers: the tenant "containerd" of the policy bundle (its data says
/// what containerd's workloads may get); the principal names the containerd namespace.</summary>
internal static class ShimTenant
{
    public const string Name = "containerd";
}
