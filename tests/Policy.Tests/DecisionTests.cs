using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Sandbox.Policy.Rego;
using Sandbox.Cli.Commands.Policy;

namespace Sandbox.Policy.Tests;

/// <summary>Golden decisions of the default bundle, and the engine's validation, clamping and fail-closed rules.</summary>
public class DecisionTests
{
    private static EmbeddedPolicyEngine Engine(HostCeilings? ceilings = null, CompiledPolicy? policy = null, IReadOnlySet<string>? profiles = null) =>
        new(policy ?? TestBundles.Default, ceilings ?? new HostCeilings(), NullLogger<EmbeddedPolicyEngine>.Instance, profiles);

    private static Task<PolicyDecision> Decide(PolicyInput input, HostCeilings? ceilings = null) => Engine(ceilings).DecideAsync(input, CancellationToken.None);

    [Fact]
    public async Task TrustedTenantJob_RunsInContainer_WithDefaults()
    {
        var d = await Decide(TestBundles.Input());
        Assert.True(d.Allow);
        Assert.Equal("container", d.Isolation);
        Assert.Equal(new ResourceLimits(512, 1, 256, 1024, 300), d.Resources);
        Assert.Equal(NetworkModes.None, d.Network.Mode);
        Assert.Equal("default", d.SyscallProfile.Name);
        Assert.Equal("sandbox-default-1", d.BundleRevision);
        Assert.False(d.RequireHardwareVirtualization);
        Assert.Equal(["trusted workload: container tier"], d.Reasons);
        Assert.True(Guid.TryParse(d.DecisionId, out _));
    }

    [Fact]
    public async Task UntrustedWorkload_AskingForContainer_GetsMicroVm()
    {
        var d = await Decide(TestBundles.Input(untrusted: true, hint: "container"));
        Assert.True(d.Allow);
        Assert.Equal("microvm", d.Isolation);
        Assert.Contains("untrusted workload: microvm tier enforced", d.Reasons);
    }

    [Fact]
    public async Task PublicTenant_OnTcgHost_AllowedByConfig_WithStrictProfile()
    {
        var d = await Decide(TestBundles.Input(tenant: "public", untrusted: true, accel: "tcg", resources: new RequestedResources(MemoryMiB: 4096)));
        Assert.True(d.Allow);
        Assert.Equal("microvm", d.Isolation);
        Assert.Equal("strict", d.SyscallProfile.Name);
        Assert.Equal(1024, d.Resources.MemoryMiB);
        Assert.Contains("requested memory_mib 4096 exceeds the tenant ceiling 1024: clamped", d.Reasons);
    }

    [Fact]
    public async Task Egress_OnlyAllowedHosts()
    {
        var d = await Decide(TestBundles.Input(network: new RequestedNetwork("egress", ["files.pypi.org", "evil.example"])));
        Assert.Equal(new[] { "files.pypi.org" }, d.Network.Egress);
        Assert.Equal(NetworkModes.Egress, d.Network.Mode);
        Assert.Contains("egress to \"evil.example\" is not allowed for this tenant: dropped", d.Reasons);
    }

    [Fact]
    public async Task UnknownTenant_IsDenied_WithReason()
    {
        var d = await Decide(TestBundles.Input(tenant: "mallory"));
        Assert.False(d.Allow);
        Assert.Contains("unknown tenant \"mallory\"", d.Reasons);
    }

    [Fact]
    public async Task NoMicroVmTier_ForUntrusted_IsDenied()
    {
        var d = await Decide(TestBundles.Input(untrusted: true, tiers: ["container"]));
        Assert.False(d.Allow);
        Assert.Contains("the microvm tier is not available on this host", d.Reasons);
    }

    [Fact]
    public async Task PolicyLimits_AreClampedToHostCeilings()
    {
        var d = await Decide(TestBundles.Input(resources: new RequestedResources(MemoryMiB: 8000, Vcpus: 8)), new HostCeilings { MemoryMiB = 2048, Vcpus = 2 });
        Assert.True(d.Allow);
        Assert.Equal(2048, d.Resources.MemoryMiB);
        Assert.Equal(2, d.Resources.Vcpus);
        Assert.Contains("memory_mib 8000 clamped to the host ceiling 2048", d.Reasons);
    }

    private static CompiledPolicy Custom(string decision) => RegoBundle.FromFiles([("p.rego", "package sandbox\n" + decision)]).Compile();

    private const string Valid = """
        decision := {"allow": true, "isolation": ISO, "resources": {"memory_mib": 1, "vcpus": 1, "pids": 1, "disk_mib": 1, "timeout_s": 1},
          "network": {"mode": "none", "egress": []}, "syscall_profile": {"name": PROFILE, "add": []}, "reasons": [], "require_hardware_virtualization": RHV}
        """;

    private static Task<PolicyDecision> DecideCustom(string iso = "\"container\"", string profile = "\"default\"", string rhv = "false", string accel = "kvm") =>
        Engine(policy: Custom(Valid.Replace("ISO", iso).Replace("PROFILE", profile).Replace("RHV", rhv)))
            .DecideAsync(TestBundles.Input(accel: accel), CancellationToken.None);

    [Fact]
    public async Task ValidCustomDecision_IsAllowed() => Assert.True((await DecideCustom()).Allow);

    [Fact]
    public async Task UnknownTier_IsDenied()
    {
        var d = await DecideCustom(iso: "\"vm\"");
        Assert.False(d.Allow);
        Assert.Contains(d.Reasons, r => r.Contains("unknown isolation tier 'vm'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task UnknownProfile_IsDenied()
    {
        var d = await DecideCustom(profile: "\"wide-open\"");
        Assert.False(d.Allow);
        Assert.Contains(d.Reasons, r => r.Contains("unknown syscall profile 'wide-open'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task KnownProfiles_ComeFromTheConstructor()
    {
        var engine = Engine(policy: Custom(Valid.Replace("ISO", "\"container\"").Replace("PROFILE", "\"gpu\"").Replace("RHV", "false")), profiles: new HashSet<string> { "gpu" });
        Assert.True((await engine.DecideAsync(TestBundles.Input(), CancellationToken.None)).Allow);
    }

    [Fact]
    public async Task RequireHardwareVirtualization_OnTcg_IsDenied()
    {
        var d = await DecideCustom(iso: "\"microvm\"", rhv: "true", accel: "tcg");
        Assert.False(d.Allow);
        Assert.Contains(d.Reasons, r => r.Contains("requires hardware virtualization", StringComparison.Ordinal));
        Assert.True((await DecideCustom(iso: "\"microvm\"", rhv: "false", accel: "tcg")).Allow);
    }

    [Theory]
    [InlineData("decision := 1", "must be an object")]
    [InlineData("x := 1", "undefined")]
    [InlineData("decision := {\"allow\": \"yes\"}", "decision.allow must be a boolean")]
    [InlineData("decision := x if { x := 1 / 0 }", "eval_builtin_error")]
    [InlineData("decision := 1\ndecision := 2", "eval_conflict_error")]
    public async Task BadDecisions_FailClosed(string rego, string reason)
    {
        var d = await Engine(policy: Custom(rego)).DecideAsync(TestBundles.Input(), CancellationToken.None);
        Assert.False(d.Allow);
        Assert.Contains(d.Reasons, r => r.Contains(reason, StringComparison.Ordinal));
    }

    [Fact]
    public async Task BudgetExceeded_FailsClosed()
    {
        var policy = Custom("decision := count([x | some x in numbers.range(1, 10)])".Replace("numbers.range(1, 10)", "[i | some i in input.big]"));
        var engine = new EmbeddedPolicyEngine(policy, new HostCeilings(), NullLogger<EmbeddedPolicyEngine>.Instance, options: new EvalOptions { MaxSteps = 100 });
        var big = new JsonArray(Enumerable.Range(0, 1000).Select(i => (JsonNode?)JsonValue.Create(i)).ToArray());
        var d = engine.DecideJson(new JsonObject { ["big"] = big });
        Assert.False(d.Allow);
        Assert.Contains(d.Reasons, r => r.Contains("eval_budget_exceeded", StringComparison.Ordinal));
    }

    [Fact]
    public void BundleTestRules_AllPass()
    {
        var policy = RegoBundle.LoadDirectory(TestBundles.DefaultBundleDir).Compile();
        var results = PolicyTestRunner.RunTests(policy);
        Assert.True(results.Count >= 10);
        Assert.All(results, r => Assert.True(r.Outcome == "PASS", $"{r.Name}: {r.Outcome} {r.Detail}"));
    }

    [Fact]
    public void TestRunner_ReportsFailures()
    {
        var policy = RegoBundle.FromFiles([("t.rego", "package t\ntest_ok if true\ntest_bad if 1 == 2\ntest_err if 1 / 0\n")]).Compile();
        var results = PolicyTestRunner.RunTests(policy).ToDictionary(r => r.Name, r => r.Outcome);
        Assert.Equal("PASS", results["data.t.test_ok"]);
        Assert.Equal("FAIL", results["data.t.test_bad"]);
        Assert.Equal("FAIL", results["data.t.test_err"]);
    }

    [Fact]
    public void EmbeddedDefault_MatchesRepositoryBundle()
    {
        var fromDir = RegoBundle.LoadDirectory(TestBundles.DefaultBundleDir).Compile();
        var input = TestBundles.Input(untrusted: true).ToJson();
        Assert.Equal(fromDir.Evaluate("data.sandbox.decision", input).ValueJson, TestBundles.Default.Evaluate("data.sandbox.decision", input).ValueJson);
    }
}
