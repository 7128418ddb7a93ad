using Grpc.Core;
using Sandbox.Api.V1;
using Sandbox.Core;
using Sandbox.Isolation;
using Sandbox.Isolation.MicroVm;
using Sandbox.Policy;
using Accelerator = Sandbox.Api.V1.Accelerator;
using static Sandbox.SandboxApi.Tests.Streams;

namespace Sandbox.SandboxApi.Tests;

/// <summary>A decision field the default policy never sets reaches the real driver: require_hardware_virtualization,
/// from a bundle that always asks for it, must make the microVM driver refuse TCG (it was once dropped on the way).</summary>
[Collection("sandboxd")]
public sealed class DecisionToDriverTests
{
    private const string KvmOnlyPolicy = """
        package sandbox

        import rego.v1

        decision := {
            "allow": true,
            "isolation": "microvm",
            "resources": {"memory_mib": 256, "vcpus": 1, "pids": 64, "disk_mib": 64, "timeout_s": 60},
            "network": {"mode": "none", "egress": []},
            "syscall_profile": {"name": "default", "add": []},
            "require_hardware_virtualization": true,
            "reasons": ["test: this sandbox must run on kvm"],
        }
        """;

    [Fact]
    public async Task Require_hardware_virtualization_refuses_a_microvm_on_tcg_and_runs_on_kvm()
    {
        var root = SandboxdServer.NewRoot();
        var bundle = Directory.CreateDirectory(Path.Combine(root, "bundle")).FullName;
        File.WriteAllText(Path.Combine(bundle, "policy.rego"), KvmOnlyPolicy);
        await using var server = await SandboxdServer.StartAsync(SandboxdServer.Yaml(root, sandboxes: $"policy:\n  bundle: {bundle}"), root);
        try
        {
            // A KVM host: the microVM runs, on KVM and nothing else.
            var sb = await server.Client.CreateSandboxAsync(Trusted());
            Assert.Equal(Accelerator.Kvm, sb.Accelerator);
            await server.Client.DeleteSandboxAsync(new DeleteSandboxRequest { Id = sb.Id });
        }
        catch (RpcException e) when (e.StatusCode != StatusCode.Unavailable)
        {
            // A TCG-only host (like the CI machine): the policy engine already refuses the decision, naming the
            // accelerator the probe found.
            Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
            Assert.Contains("accelerator is tcg", e.Status.Detail, StringComparison.Ordinal);
        }
        Assert.Empty(server.CgroupLeftovers());
    }

    /// <summary>Behind the engine's check, the driver's own: Core hands the flag to the real microVM driver, which
    /// refuses TCG with FAILED_PRECONDITION (a policy engine that let it through would not downgrade the sandbox).</summary>
    [Fact]
    public async Task The_microvm_driver_itself_refuses_tcg_when_the_spec_requires_kvm()
    {
        var decision = new PolicyDecision
        {
            Allow = true,
            Isolation = IsolationTiers.MicroVm,
            Resources = new Policy.ResourceLimits(256, 1, 64, 64, 60),
            Network = NetworkPolicy.Disabled,
            SyscallProfile = new SyscallProfileRef("default", []),
            Reasons = [],
            DecisionId = "test",
            RequireHardwareVirtualization = true,
        };
        var root = SandboxdServer.NewRoot();
        var vm = new MicroVmDriver(new MicroVmOptions { CgroupParent = "sandboxd-test-" + Path.GetFileName(root) + "-vm", AgentDirectory = Environment.GetEnvironmentVariable("SANDBOX_AGENT_DIR") });
        await using var core = SandboxCore.Create(new SandboxCoreOptions(), new ConstantPolicy(decision), [vm]);
        var probed = await core.Drivers.ProbedAsync(CancellationToken.None);
        if (!probed.IsAvailable(SandboxTier.MicroVm))
            Assert.Fail($"the microVM tier is not available here: {probed.Unavailable[SandboxTier.MicroVm]}");
        try
        {
            var entry = await core.Sandboxes.CreateAsync(new Principal("acme", "test"), new SandboxRequest(), CancellationToken.None);
            Assert.Equal(Isolation.Accelerator.Kvm, entry.Info!.Accelerator);
            await core.Sandboxes.DeleteAsync(new Principal("acme", "test"), entry.Id);
        }
        catch (SandboxException e) when (probed.Accelerator != Isolation.Accelerator.Kvm)
        {
            Assert.Equal(SandboxErrorCode.FailedPrecondition, e.Code);
            Assert.Contains("requires hardware virtualization", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private sealed class ConstantPolicy(PolicyDecision decision) : IPolicyEngine
    {
        public Task<PolicyDecision> DecideAsync(PolicyInput input, CancellationToken ct) => Task.FromResult(decision);
    }
}
