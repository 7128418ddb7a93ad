using Sandbox.Isolation;
using Sandbox.Policy;

namespace Sandbox.Core.Tests;

/// <summary><see cref="SandboxRequest.HostsPod"/> and <see cref="SandboxRequest.PodOf"/> (a CRI pod, Kata's one VM per
/// pod): Core decides whether a later sandbox of a pod becomes a container in the pod's microVM, from both decisions,
/// and says why when it does not.</summary>
public sealed class PodTests
{
    /// <summary>The request's tier hint is the decision; a request asking for egress gets it.</summary>
    private static PolicyDecision Decide(PolicyInput input) =>
        FakePolicy.Allow(input.Requested.Isolation == IsolationTiers.Container ? IsolationTiers.Container : IsolationTiers.MicroVm,
            network: input.Requested.Network?.Egress is { Count: > 0 } ? NetworkModes.Egress : NetworkModes.None);

    private static SandboxRequest MicroVm => new() { Tier = SandboxTier.MicroVm };

    [Fact]
    public async Task A_later_sandbox_of_a_microvm_pod_is_a_container_in_the_pods_vm()
    {
        await using var h = new CoreHarness(new FakePolicy(Decide));
        var pod = await h.Sandboxes.CreateAsync(CoreHarness.Alice, MicroVm with { HostsPod = true }, CancellationToken.None);
        Assert.True(Assert.Single(h.MicroVm.Created).HostsPod);

        var app = await h.Sandboxes.CreateAsync(CoreHarness.Alice, MicroVm with { PodOf = pod.Id.Value }, CancellationToken.None);
        // No VM of its own: a container of the pod's sandbox, with its own spec (its id, limits, profile).
        Assert.Single(h.MicroVm.Created);
        var container = Assert.Single(h.MicroVm.Live[0].Containers);
        Assert.Equal(app.Id, container.Info.Id);
        Assert.Equal(pod.Id, app.Info!.PodHost);
        Assert.False(container.Spec.HostsPod);
        Assert.Contains(h.Logs.Entries, e => e.Message == $"Sandbox {app.Id} of tenant acme is a container in the microVM of pod sandbox {pod.Id}");

        // Deleting it ends the container, not the pod's VM.
        await h.Sandboxes.DeleteAsync(CoreHarness.Alice, app.Id);
        Assert.True(container.Disposed);
        Assert.False(h.MicroVm.Live[0].Disposed);
    }

    [Fact]
    public async Task A_later_sandbox_gets_its_own_when_joining_would_not_match_its_decision_and_the_log_says_why()
    {
        await using var h = new CoreHarness(new FakePolicy(Decide));
        var pod = await h.Sandboxes.CreateAsync(CoreHarness.Alice, MicroVm with { HostsPod = true }, CancellationToken.None);

        // Its own decision is the container tier.
        var container = await h.Sandboxes.CreateAsync(CoreHarness.Alice, new SandboxRequest { Tier = SandboxTier.Container, PodOf = pod.Id.Value },
            CancellationToken.None);
        Assert.Equal(SandboxTier.Container, container.Tier);
        Assert.Null(container.Info!.PodHost);
        Assert.Contains(h.Logs.Entries, e => e.Message.Contains($"does not join pod sandbox {pod.Id} (this sandbox's tier is container)"));

        // Its decision gives it a network of its own: the VM's is every container's, so it gets a VM of its own.
        var networked = await h.Sandboxes.CreateAsync(CoreHarness.Alice, MicroVm with { PodOf = pod.Id.Value, Egress = ["pypi.org"] },
            CancellationToken.None);
        Assert.Null(networked.Info!.PodHost);
        Assert.Contains(h.Logs.Entries, e => e.Message.Contains("(this sandbox's decision gives it a network of its own)"));

        // Another tenant's pod is no pod of its own.
        var mallory = await h.Sandboxes.CreateAsync(CoreHarness.Mallory, MicroVm with { PodOf = pod.Id.Value }, CancellationToken.None);
        Assert.Null(mallory.Info!.PodHost);
        Assert.Contains(h.Logs.Entries, e => e.Message.Contains($"does not join pod sandbox {pod.Id} (no such sandbox)"));

        // A sandbox not made to host a pod takes no containers.
        var plain = await h.Sandboxes.CreateAsync(CoreHarness.Alice, MicroVm, CancellationToken.None);
        var other = await h.Sandboxes.CreateAsync(CoreHarness.Alice, MicroVm with { PodOf = plain.Id.Value }, CancellationToken.None);
        Assert.Null(other.Info!.PodHost);
        Assert.Empty(h.MicroVm.Live[0].Containers);
        Assert.Equal(5, h.MicroVm.Created.Count); // the pod, then a VM for each but the container-tier one
    }

    [Fact]
    public async Task A_container_in_a_pods_vm_updates_its_own_limits_though_its_tier_cannot_update_a_vm()
    {
        await using var h = new CoreHarness(new FakePolicy(Decide));
        h.MicroVm.Capabilities = DriverCapabilities.Pause;
        var pod = await h.Sandboxes.CreateAsync(CoreHarness.Alice, MicroVm with { HostsPod = true }, CancellationToken.None);
        var app = await h.Sandboxes.CreateAsync(CoreHarness.Alice, MicroVm with { PodOf = pod.Id.Value }, CancellationToken.None);
        await h.Sandboxes.UpdateLimitsAsync(CoreHarness.Alice, app.Id, app.Info!.Limits with { MemoryMiB = 64 }, CancellationToken.None);
        Assert.Equal(64, Assert.Single(h.MicroVm.Live[0].Containers).UpdatedLimits!.MemoryMiB);
        // The pod's VM itself: still its tier's answer.
        var e = await Assert.ThrowsAsync<SandboxException>(() =>
            h.Sandboxes.UpdateLimitsAsync(CoreHarness.Alice, pod.Id, pod.Info!.Limits with { MemoryMiB = 64 }, CancellationToken.None));
        Assert.Equal(SandboxErrorCode.Unimplemented, e.Code);
    }

    /// <summary>Grants mode netns for the path asked (else as <see cref="Decide"/>), on the microVM tier.</summary>
    private static PolicyDecision DecideNetns(PolicyInput input) =>
        input.Requested.Network is { Mode: NetworkModes.Netns, Netns: { } path }
            ? FakePolicy.Allow(IsolationTiers.MicroVm) with { Network = new NetworkPolicy(NetworkModes.Netns, []) { Netns = path } }
            : Decide(input);

    /// <summary>A CNI pod on the microVM tier: the pod's VM gets the orchestrator's namespace (the driver takes its
    /// interface over); a later sandbox granted the same namespace is a container in that VM, with no network of its own
    /// in its spec (the VM's is it); one whose decision does not join that namespace gets a VM of its own, and the log
    /// says why.</summary>
    [Fact]
    public async Task A_cni_pods_vm_takes_in_sandboxes_granted_its_namespace_only()
    {
        await using var h = new CoreHarness(new FakePolicy(DecideNetns));
        h.MicroVm.Capabilities |= DriverCapabilities.OrchestratorNetwork;
        var name = "sbxp-" + Guid.NewGuid().ToString("N")[..8];
        var path = "/run/netns/" + name;
        Run("ip", "netns", "add", name);
        try
        {
            var pod = await h.Sandboxes.CreateAsync(CoreHarness.Alice, MicroVm with { HostsPod = true, NetworkNamespace = path }, CancellationToken.None);
            var vmSpec = Assert.Single(h.MicroVm.Created);
            Assert.True(vmSpec.HostsPod);
            Assert.Equal(path, Assert.IsType<Isolation.Network.NetworkNamespaceFile>(vmSpec.NetworkOf).Path);

            var app = await h.Sandboxes.CreateAsync(CoreHarness.Alice, MicroVm with { PodOf = pod.Id.Value, NetworkNamespace = path }, CancellationToken.None);
            Assert.Equal(pod.Id, app.Info!.PodHost);
            Assert.Null(Assert.Single(h.MicroVm.Live[0].Containers).Spec.NetworkOf);

            var unnetworked = await h.Sandboxes.CreateAsync(CoreHarness.Alice, MicroVm with { PodOf = pod.Id.Value }, CancellationToken.None);
            Assert.Null(unnetworked.Info!.PodHost);
            Assert.Contains(h.Logs.Entries, e => e.Message.Contains($"(the pod's microVM has network namespace {path}, which this sandbox's decision does not join)"));
        }
        finally
        {
            Run("ip", "netns", "delete", name);
        }
    }

    /// <summary>A tier that cannot take an orchestrator's namespace refuses it by name; the host's own namespace is
    /// refused on the microVM tier as on the container tier, whatever the policy grants.</summary>
    [Fact]
    public async Task A_microvm_never_gets_the_hosts_namespace_and_a_tier_without_the_capability_refuses_by_name()
    {
        await using var h = new CoreHarness(new FakePolicy(DecideNetns));
        h.MicroVm.Capabilities &= ~DriverCapabilities.OrchestratorNetwork;
        var e = await Assert.ThrowsAsync<SandboxException>(() =>
            h.Sandboxes.CreateAsync(CoreHarness.Alice, MicroVm with { NetworkNamespace = "/run/netns/x" }, CancellationToken.None));
        Assert.Equal(SandboxErrorCode.FailedPrecondition, e.Code);
        Assert.Contains("joining the orchestrator's network namespace /run/netns/x (CNI pod networking) is not supported on the microvm tier", e.Message);

        // The engine's (the host's) namespace mounted where an orchestrator's would be (`ip netns attach NAME PID`).
        h.MicroVm.Capabilities |= DriverCapabilities.OrchestratorNetwork;
        var name = "sbxh-" + Guid.NewGuid().ToString("N")[..8];
        Run("ip", "netns", "attach", name, Environment.ProcessId.ToString());
        try
        {
            e = await Assert.ThrowsAsync<SandboxException>(() =>
                h.Sandboxes.CreateAsync(CoreHarness.Alice, MicroVm with { NetworkNamespace = "/run/netns/" + name }, CancellationToken.None));
            Assert.Equal(SandboxErrorCode.PermissionDenied, e.Code);
            Assert.Contains("is the host's own network namespace", e.Message);
            Assert.Empty(h.MicroVm.Created);
        }
        finally
        {
            Run("ip", "netns", "delete", name);
        }
    }

    private static void Run(string program, params string[] args)
    {
        using var p = System.Diagnostics.Process.Start(program, args);
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }

    [Fact]
    public async Task A_pod_host_on_the_container_tier_is_an_ordinary_sandbox()
    {
        await using var h = new CoreHarness(new FakePolicy(Decide));
        await h.Sandboxes.CreateAsync(CoreHarness.Alice, new SandboxRequest { Tier = SandboxTier.Container, HostsPod = true }, CancellationToken.None);
        Assert.False(Assert.Single(h.Container.Created).HostsPod);
    }
}
