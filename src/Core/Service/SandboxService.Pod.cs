using Sandbox.Isolation;

namespace Sandbox.Core;

public sealed partial class SandboxService
{
    /// <summary>Whether a later sandbox of a pod (<see cref="SandboxRequest.PodOf"/>) becomes a container inside the
    /// pod's first sandbox (Kata's one VM per pod) — Core's decision, from both decisions: both on the microVM tier, the
    /// pod's sandbox still up and made to host a pod, and nothing of the VM that this sandbox's own decision does not
    /// give it (the VM's network is every container's: only a VM without egress is joined, by a sandbox granted no
    /// network of its own; a VM in an orchestrator's network namespace — a CNI pod's — only by a sandbox granted that
    /// same namespace; a requirement of hardware virtualization the VM lacks is not met either). Otherwise null:
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
            spec.ScratchMounts.Count > 0 ? "this sandbox has tmpfs mounts, which a container in the pod's microVM does not take" :
            spec.Network != NetworkMode.None || (spec.NetworkOf is not null && !SameOrchestratorNamespace(spec, pod)) ? "this sandbox's decision gives it a network of its own" :
            spec.NetworkOf is null && pod.Decision.Network.Netns is { } podNetns ? $"the pod's microVM has network namespace {podNetns}, which this sandbox's decision does not join" :
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

    /// <summary>The sandbox's decision grants the very orchestrator's namespace the pod's VM has (the VM's NIC is on it):
    /// as a container in that VM, it then has exactly the network its own decision gives it.</summary>
    private static bool SameOrchestratorNamespace(SandboxSpec spec, SandboxEntry pod) =>
        spec.NetworkOf is Isolation.Network.NetworkNamespaceFile netns && pod.Decision.Network.Mode == Sandbox.Policy.NetworkModes.Netns
        && pod.Decision.Network.Netns == netns.Path;
}
