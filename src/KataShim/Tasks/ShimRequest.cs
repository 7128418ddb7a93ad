using Sandbox.Core;
using Sandbox.KataShim.Oci;

namespace Sandbox.KataShim.Tasks;

/// <summary>What the shim tells Core about a container. Trust is fail-safe: a bundle says nothing about it unless the
/// annotation <c>io.sandbox.trusted=true</c> declares the code the tenant's own (the policy still decides, and the
/// default policy only honours it for trusted tenants).</summary>
internal static class ShimRequest
{
    /// <param name="podSandbox">The Core sandbox of the CRI pod's sandbox (pause) container, when this shim runs it and
    /// this is one of the pod's app containers: Core makes the container part of it when it can (one microVM per pod).</param>
    public static SandboxRequest For(ContainerPlan plan, string rootfs, string ns, string? podSandbox = null)
    {
        var annotations = plan.Annotations;
        var trusted = annotations.TryGetValue(ShimAnnotations.Trusted, out var t) && t == "true";
        return plan.Request with
        {
            Rootfs = rootfs,
            // The CRI image name (io.kubernetes.cri.image-name) reaches the policy among the annotations; it is not
            // Core's Image, which names an image of the engine's own store to run (the root here is the bundle's).
            Annotations = annotations,
            // A CRI pod's labels (empty otherwise) are the workload's labels for the policy.
            Labels = plan.PodLabels,
            Namespace = ns,
            Untrusted = trusted ? false : null,
            CodeProvenance = trusted ? "tenant" : null,
            // CRI's sandbox (pause) container is the pod's first: on the microVM tier its VM takes the app containers.
            HostsPod = annotations.TryGetValue(ShimAnnotations.CriContainerType, out var type) && type == "sandbox",
            PodOf = podSandbox,
        };
    }
}
