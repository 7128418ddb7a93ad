using Sandbox.Isolation;
using Sandbox.Policy;

namespace Sandbox.Core.Tests;

/// <summary><see cref="SandboxRequest.NetworkOf"/> (a CI job's service containers): only a tier that offers it, only
/// the tenant's own sandbox, and never a network the policy would not give the joining request itself.</summary>
public sealed class SharedNetworkTests
{
    /// <summary>Trusted requests get the egress they ask for; untrusted ones get none.</summary>
    private static PolicyDecision Decide(PolicyInput input) =>
        input.Requested.Network?.Egress is { Count: > 0 } egress && !input.Workload.Untrusted
            ? FakePolicy.Allow(network: NetworkModes.Egress) with { Network = new NetworkPolicy(NetworkModes.Egress, egress) }
            : FakePolicy.Allow();

    [Fact]
    public async Task Joining_a_network_with_egress_the_policy_would_not_grant_the_joining_request_is_denied()
    {
        await using var h = new CoreHarness(new FakePolicy(Decide));
        h.Container.Capabilities |= DriverCapabilities.SharedNetwork;
        var job = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted() with { Egress = ["mirror.example:80"] }, CancellationToken.None);
        Assert.Equal(NetworkModes.Egress, job.Decision.Network.Mode);

        var untrusted = new SandboxRequest { Untrusted = true, NetworkOf = job.Id.Value, Tier = SandboxTier.Container };
        var e = await Assert.ThrowsAsync<SandboxException>(() => h.Sandboxes.CreateAsync(CoreHarness.Alice, untrusted, CancellationToken.None));
        Assert.Equal(SandboxErrorCode.PermissionDenied, e.Code);
        Assert.Contains("mirror.example:80, which the policy does not grant its own request", e.Message);

        // The same trust passes that check (the fake sandbox then cannot share its namespace: refused, never ignored).
        var trusted = CoreHarness.Trusted() with { NetworkOf = job.Id.Value };
        e = await Assert.ThrowsAsync<SandboxException>(() => h.Sandboxes.CreateAsync(CoreHarness.Alice, trusted, CancellationToken.None));
        Assert.Equal(SandboxErrorCode.FailedPrecondition, e.Code);
        Assert.Single(h.Sandboxes.List(CoreHarness.Alice));
    }

    [Fact]
    public async Task Another_tenants_sandbox_and_a_tier_without_shared_networks_are_refused()
    {
        await using var h = new CoreHarness(new FakePolicy(Decide));
        var job = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), CancellationToken.None);
        var e = await Assert.ThrowsAsync<SandboxException>(() =>
            h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted() with { NetworkOf = job.Id.Value }, CancellationToken.None));
        Assert.Equal(SandboxErrorCode.FailedPrecondition, e.Code);
        Assert.Contains("cannot share a sandbox's network", e.Message);

        h.Container.Capabilities |= DriverCapabilities.SharedNetwork;
        e = await Assert.ThrowsAsync<SandboxException>(() =>
            h.Sandboxes.CreateAsync(CoreHarness.Mallory, CoreHarness.Trusted() with { NetworkOf = job.Id.Value }, CancellationToken.None));
        Assert.Equal(SandboxErrorCode.NotFound, e.Code);
    }
}
