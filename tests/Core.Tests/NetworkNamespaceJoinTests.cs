using System.Diagnostics;
using Sandbox.Isolation;
using Sandbox.Isolation.Network;
using Sandbox.Policy;

namespace Sandbox.Core.Tests;

/// <summary><see cref="SandboxRequest.NetworkNamespace"/> (a CRI pod's CNI namespace): the policy sees it and must grant
/// exactly it; only a tier that offers joining; the engine's check of the path; and a sandbox joining one that did
/// (NetworkOf) needs the same grant for itself.</summary>
public sealed class NetworkNamespaceJoinTests
{
    /// <summary>Grants mode netns for the path asked, unless the request's labels say "refuse".</summary>
    private static PolicyDecision Grant(PolicyInput input) =>
        input.Requested.Network is { Mode: NetworkModes.Netns, Netns: { } path } && input.Workload.Labels?.ContainsKey("refuse") != true
            ? FakePolicy.Allow() with { Network = new NetworkPolicy(NetworkModes.Netns, []) { Netns = path } }
            : FakePolicy.Allow();

    [Fact]
    public async Task The_policy_sees_the_path_and_a_decision_without_the_grant_refuses_the_join()
    {
        var policy = new FakePolicy(Grant);
        await using var h = new CoreHarness(policy);
        h.Container.Capabilities |= DriverCapabilities.SharedNetwork | DriverCapabilities.OrchestratorNetwork;
        var request = CoreHarness.Trusted() with { NetworkNamespace = "/var/run/netns/cni-x", Labels = new Dictionary<string, string> { ["refuse"] = "1" } };
        var e = await Assert.ThrowsAsync<SandboxException>(() => h.Sandboxes.CreateAsync(CoreHarness.Alice, request, CancellationToken.None));
        Assert.Equal(SandboxErrorCode.PermissionDenied, e.Code);
        Assert.Contains("the policy does not grant joining network namespace /var/run/netns/cni-x", e.Message);
        Assert.Equal(("netns", "/var/run/netns/cni-x"), (policy.Inputs[^1].Requested.Network!.Mode, policy.Inputs[^1].Requested.Network!.Netns));
        Assert.Empty(h.Container.Created);
    }

    [Fact]
    public async Task A_tier_without_joining_refuses_it_by_name()
    {
        await using var h = new CoreHarness(new FakePolicy(Grant));
        var e = await Assert.ThrowsAsync<SandboxException>(() =>
            h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted() with { NetworkNamespace = "/var/run/netns/cni-x" }, CancellationToken.None));
        Assert.Equal(SandboxErrorCode.FailedPrecondition, e.Code);
        Assert.Contains("(CNI pod networking) is not supported on the container tier, where the policy's decision put this sandbox", e.Message);
    }

    [Fact]
    public async Task A_granted_path_is_checked_by_the_engine_and_joined_as_NetworkOf()
    {
        await using var h = new CoreHarness(new FakePolicy(Grant));
        h.Container.Capabilities |= DriverCapabilities.SharedNetwork | DriverCapabilities.OrchestratorNetwork;
        var e = await Assert.ThrowsAsync<SandboxException>(() =>
            h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted() with { NetworkNamespace = "/var/run/netns/absent-" + Guid.NewGuid().ToString("N") }, CancellationToken.None));
        Assert.Equal(SandboxErrorCode.NotFound, e.Code);

        var name = "sbxc-" + Guid.NewGuid().ToString("N")[..8];
        Run("ip", "netns", "add", name);
        try
        {
            var path = "/run/netns/" + name;
            var pause = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted() with { NetworkNamespace = path }, CancellationToken.None);
            var spec = Assert.Single(h.Container.Created);
            Assert.Equal(path, Assert.IsType<NetworkNamespaceFile>(spec.NetworkOf).Path);
            Assert.Equal(NetworkMode.None, spec.Network);

            // Another sandbox joining that one's network must be granted the namespace for itself.
            var joined = CoreHarness.Trusted() with { NetworkOf = pause.Id.Value, Labels = new Dictionary<string, string> { ["refuse"] = "1" } };
            e = await Assert.ThrowsAsync<SandboxException>(() => h.Sandboxes.CreateAsync(CoreHarness.Alice, joined, CancellationToken.None));
            Assert.Equal(SandboxErrorCode.PermissionDenied, e.Code);
            Assert.Contains($"would put this sandbox in network namespace {path}", e.Message);
        }
        finally
        {
            Run("ip", "netns", "delete", name);
        }
    }

    [Fact]
    public async Task A_decision_joining_a_namespace_nobody_asked_for_is_an_error()
    {
        await using var h = new CoreHarness(new FakePolicy(_ => FakePolicy.Allow() with { Network = new NetworkPolicy(NetworkModes.Netns, []) { Netns = "/run/netns/x" } }));
        var e = await Assert.ThrowsAsync<SandboxException>(() => h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), CancellationToken.None));
        Assert.Equal(SandboxErrorCode.Internal, e.Code);
        Assert.Empty(h.Container.Created);
    }

    private static void Run(string program, params string[] args)
    {
        using var p = Process.Start(program, args);
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }
}
