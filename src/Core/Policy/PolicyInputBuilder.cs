using Sandbox.Isolation;
using Sandbox.Policy;

namespace Sandbox.Core;

/// <summary>Request → policy input, in one place. Fail-safe: a request silent about trust is untrusted code of unknown
/// provenance; the subject is always the authenticated principal (never a field of the request).</summary>
public static class PolicyInputBuilder
{
    public const string UnknownProvenance = "unknown";

    public static PolicyInput Build(Principal principal, SandboxRequest request, RequestInfo requestInfo,
        IEnumerable<SandboxTier> availableTiers, Accelerator accelerator)
    {
        var r = request.Resources;
        return new PolicyInput(
            requestInfo,
            new SubjectInfo(principal.Tenant, principal.Name, Verified: true),
            new WorkloadInfo(request.Image, request.Rootfs, request.CodeProvenance ?? UnknownProvenance, request.Untrusted ?? true,
                request.Annotations.Count > 0 ? request.Annotations : null, request.Labels.Count > 0 ? request.Labels : null, request.Namespace),
            new RequestedSpec(
                request.Tier is { } t ? TierNames.ToPolicy(t) : "auto",
                new RequestedResources(r.MemoryMiB, r.Vcpus is { } v ? (int)Math.Ceiling(v) : null, r.Pids, r.DiskMiB, r.TimeoutS),
                request.NetworkNamespace is { } netns
                    ? new RequestedNetwork(NetworkModes.Netns, [], [], netns)
                    : new RequestedNetwork(
                        request.NetworkMode ?? (request.Egress.Count > 0 || request.Publish.Count > 0 ? NetworkModes.Egress : NetworkModes.None),
                        request.Egress, request.Publish),
                request.Syscalls,
                request.SyscallProfile),
            new EnvironmentInfo(
                availableTiers.Select(TierNames.ToPolicy).Order(StringComparer.Ordinal).ToList(),
                TierNames.ToPolicy(accelerator)));
    }
}
