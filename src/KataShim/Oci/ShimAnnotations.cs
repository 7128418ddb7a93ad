namespace Sandbox.KataShim.Oci;

/// <summary>Names the shim reads from, and reports in, annotations.</summary>
internal static class ShimAnnotations
{
    /// <summary>A hint to the policy: microvm | container | auto.</summary>
    public const string Tier = "io.sandbox.tier";

    /// <summary>`true` declares the workload trusted code of the tenant's own (the policy still decides).</summary>
    public const string Trusted = "io.sandbox.trusted";

    /// <summary>Containers with the same value share one shim daemon (like runc's io.containerd.runc.v2.group).</summary>
    public const string ShimGroup = "io.sandbox.shim-group";

    public const string CriSandboxId = "io.kubernetes.cri.sandbox-id";
    public const string CriImageName = "io.kubernetes.cri.image-name";
    public const string CriContainerType = "io.kubernetes.cri.container-type";

    /// <summary>Wall time asked for a container's processes: 30 days (the engine's maximum); the policy grants less.</summary>
    public const int ContainerWallTimeS = 30 * 24 * 3600;
}
