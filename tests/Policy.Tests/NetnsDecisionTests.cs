using Microsoft.Extensions.Logging.Abstractions;
using Sandbox.Policy.Rego;

namespace Sandbox.Policy.Tests;

/// <summary>Network mode "netns" (joining an orchestrator's network namespace, a CRI pod's): what the input shows, what
/// the default bundle grants, and what the engine requires of a decision that grants it.</summary>
public class NetnsDecisionTests
{
    private static Task<PolicyDecision> Decide(PolicyInput input, CompiledPolicy? policy = null) =>
        new EmbeddedPolicyEngine(policy ?? TestBundles.Default, new HostCeilings(), NullLogger<EmbeddedPolicyEngine>.Instance)
            .DecideAsync(input, CancellationToken.None);

    private static PolicyInput Pod(string tenant = "containerd", string path = "/var/run/netns/cni-42") =>
        TestBundles.Input(tenant: tenant, untrusted: true, network: new RequestedNetwork(NetworkModes.Netns, [], [], path));

    [Fact]
    public void Input_ShowsTheNamespacePath_OnlyWhenAsked()
    {
        Assert.Equal("/var/run/netns/cni-42", Pod().ToJson()["requested"]!["network"]!["netns"]!.GetValue<string>());
        Assert.Null(TestBundles.Input().ToJson()["requested"]!["network"]!["netns"]);
    }

    [Fact]
    public async Task DefaultBundle_GrantsTheContainerdTenantItsPodNetns_OthersNone()
    {
        var d = await Decide(Pod());
        Assert.True(d.Allow, string.Join("; ", d.Reasons));
        Assert.Equal((NetworkModes.Netns, "/var/run/netns/cni-42"), (d.Network.Mode, d.Network.Netns));
        Assert.Equal("/var/run/netns/cni-42", DecisionDocument.From(d)["network"]!["netns"]!.GetValue<string>());
        var other = await Decide(Pod(tenant: "acme"));
        Assert.False(other.Allow);
        Assert.Contains("joining network namespace \"/var/run/netns/cni-42\" is not allowed for tenant \"acme\"", other.Reasons);
    }

    [Fact]
    public async Task ADecisionInModeNetns_MustNameTheNamespace_AndTakesNoEgress()
    {
        static CompiledPolicy Custom(string network) => RegoBundle.FromFiles([("p.rego", "package sandbox\n" + $$"""
            decision := {"allow": true, "isolation": "container", "resources": {"memory_mib": 1, "vcpus": 1, "pids": 1, "disk_mib": 1, "timeout_s": 1},
              "network": {{network}}, "syscall_profile": {"name": "default", "add": []}, "reasons": [], "require_hardware_virtualization": false}
            """)]).Compile();
        var missing = await Decide(Pod(), Custom("""{"mode": "netns", "egress": []}"""));
        Assert.False(missing.Allow);
        Assert.Contains(missing.Reasons, r => r.Contains("network mode netns needs decision.network.netns"));
        var egress = await Decide(Pod(), Custom("""{"mode": "netns", "netns": "/var/run/netns/cni-42", "egress": ["example.org"]}"""));
        Assert.False(egress.Allow);
        Assert.Contains(egress.Reasons, r => r.Contains("network mode netns takes no egress entries"));
    }
}
