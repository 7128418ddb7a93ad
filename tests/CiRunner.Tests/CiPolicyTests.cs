using Sandbox.CiRunner.Trust;
using Sandbox.Isolation;
using Sandbox.Policy.Rego;

namespace Sandbox.CiRunner.Tests;

public sealed class CiPolicyTests
{
    private static CiTrustInput Push(string repository = "local/project", string @ref = "refs/heads/main") => new()
    {
        Event = "push", Ref = @ref, Actor = "alice", Repository = repository, Job = "build", RunsOn = ["ubuntu-latest"],
    };

    [Fact]
    public void The_bundles_own_rego_tests_pass()
    {
        var policy = RegoBundle.LoadDirectory(Path.Combine(AppContext.BaseDirectory, "policies", "ci")).Compile();
        Assert.NotEmpty(policy.TestRules);
        foreach (var rule in policy.TestRules)
        {
            var r = policy.Evaluate(rule, (RegoInput?)null);
            Assert.True(r.Kind == RegoResultKind.Defined && !r.IsFalse, $"{rule}: {r}");
        }
    }

    [Fact]
    public void A_push_to_a_protected_branch_of_a_trusted_repository_gets_a_container_and_secrets()
    {
        var d = CiPolicy.Load().Decide(Push());
        Assert.Equal(("trusted", SandboxTier.Container, true), (d.Trust, d.Tier, d.Secrets));
        Assert.Contains("push to protected branch \"main\" of trusted repository \"local/project\": container tier, secrets", d.Reasons);
    }

    [Fact]
    public void A_fork_pull_request_gets_a_microvm_no_secrets_and_only_mirrors()
    {
        var input = Push() with { Event = "pull_request", Fork = true, Ref = "refs/pull/1/merge", Egress = ["pkg.mirror.test:443", "elsewhere.test"] };
        var d = CiPolicy.Load(mirrors: ["*.mirror.test"]).Decide(input);
        Assert.Equal(("fork", SandboxTier.MicroVm, false), (d.Trust, d.Tier, d.Secrets));
        Assert.Equal(["pkg.mirror.test:443"], d.Egress);
    }

    [Fact]
    public void Anything_unknown_gets_the_strictest()
    {
        var d = CiPolicy.Load().Decide(Push(repository: "github.com/someone/else") with { Egress = ["x.test"] });
        Assert.Equal(("unknown", SandboxTier.MicroVm, false), (d.Trust, d.Tier, d.Secrets));
        Assert.Empty(d.Egress);
    }

    [Fact]
    public void A_broken_policy_fails_closed()
    {
        var dir = Directory.CreateTempSubdirectory("ci-policy-");
        try
        {
            File.WriteAllText(Path.Combine(dir.FullName, "policy.rego"), "package ci\nimport rego.v1\ndecision := {\"trust\": \"trusted\", \"isolation\": \"container\"}\n");
            var d = CiPolicy.Load(dir.FullName).Decide(Push());
            Assert.Equal(("unknown", SandboxTier.MicroVm, false), (d.Trust, d.Tier, d.Secrets));
            Assert.Contains("malformed", Assert.Single(d.Reasons));
        }
        finally
        {
            dir.Delete(true);
        }
    }
}
