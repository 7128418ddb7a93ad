using Sandbox.Isolation;

namespace Sandbox.Core;

public sealed partial class SandboxService
{
    /// <summary>Whether a later sandbox of a pod (<see cref="SandboxRequest.PodOf"/>) becomes a container inside the
    /// pod's first sandbox (Kata's one VM per pod) — Core's decision, from both decisions: both on the microVM tier, the
    /// pod's sandbox still up and made to host a pod, and nothing of the VM that this sandbox's own decision does not
    /// give it (the VM's network is every container's: only a VM without egress is joined, by a sandbox granted no
    /// network of its own; a requirement of hardware virtualization the VM lacks is not met either). Otherwise null:
    /// the sandbox gets one of its own, and the log says why.</summary>
    private IPodHost? PodHostFor(Principal principal, SandboxRequest request, SandboxSpec spec, SandboxTier tier)
    {
        if (request.PodOf is not { } of)
            return null;
        SandboxEntry? pod = null;
        try
        {
            pod = registry.Get(principal.Tenant, SandboxId.Parse(of));
        }
        catch (SandboxException)
        {
        }
        var host = pod?.Sandbox as IPodHost;
        var reason =
            pod is null ? "no such sandbox" :
            tier != SandboxTier.MicroVm ? $"this sandbox's tier is {TierNames.ToPolicy(tier)}" :
            pod.Tier != SandboxTier.MicroVm ? $"the pod's sandbox is on the {TierNames.ToPolicy(pod.Tier)} tier" :
            host is not { CanHostContainers: true } ? "the pod's sandbox was not made to host a pod, or has ended" :
            spec.HostMounts.Count > 0 ? "this sandbox mounts host paths, which the pod's running microVM cannot take (no hotplug of 9p shares)" :
            spec.Network != NetworkMode.None || spec.NetworkOf is not null ? "this sandbox's decision gives it a network of its own" :
            pod.Info?.Egress.Count > 0 ? "the pod's microVM has egress this sandbox's decision does not grant" :
            spec.RequireHardwareVirtualization && pod.Info?.Accelerator != Accelerator.Kvm ? "this sandbox requires hardware virtualization, which the pod's microVM lacks" :
            null;
        if (reason is not null)
        {
            CoreLog.OwnSandboxInPod(logger, spec.Id.Value, principal.Tenant, of, reason);
            return null;
        }
        CoreLog.JoinsPod(logger, spec.Id.Value, principal.Tenant, of);
        return host;
    }
}
