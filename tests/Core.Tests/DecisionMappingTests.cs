using CsCheck;
using Sandbox.Isolation;
using Sandbox.Policy;
using PolicyLimits = Sandbox.Policy.ResourceLimits;

namespace Sandbox.Core.Tests;

/// <summary>Request → policy input and decision → spec: the one function each, property-tested so that no field is
/// dropped on the way (require_hardware_virtualization once was).</summary>
public class DecisionMappingTests
{
    private static readonly Gen<string> s_name = Gen.String[Gen.Char['a', 'z'], 1, 12];

    private static readonly Gen<PolicyDecision> s_decision =
        from tier in Gen.OneOf(IsolationTiers.Container, IsolationTiers.MicroVm)
        from memory in Gen.Long[16, 1 << 20]
        from vcpus in Gen.Int[1, 64]
        from pids in Gen.Int[4, 1 << 20]
        from disk in Gen.Long[1, 1 << 20]
        from timeout in Gen.Int[1, 86400]
        from network in Gen.OneOf(NetworkModes.None, NetworkModes.Loopback, NetworkModes.Egress)
        from egress in Gen.OneOf(s_name.Select(n => n + ".example.org"), s_name.Select(n => n + ".example.org:443"),
            Gen.Int[1, 65535].Select(p => $"10.0.0.0/8:{p}"), Gen.Const("127.0.0.1:8080")).Array[1, 4]
        from publish in Gen.Int[1, 65535].Select(p => $"{p}:80").Array[0, 1]
        from profile in Gen.OneOf("default", "strict")
        from add in s_name.Array[0, 4]
        from kvm in Gen.Bool
        from id in s_name
        select new PolicyDecision
        {
            Allow = true,
            Isolation = tier,
            Resources = new PolicyLimits(memory, vcpus, pids, disk, timeout),
            Network = network == NetworkModes.Egress ? new NetworkPolicy(network, egress) { Publish = publish } : new NetworkPolicy(network, []),
            SyscallProfile = new SyscallProfileRef(profile, add),
            Reasons = [],
            DecisionId = id,
            RequireHardwareVirtualization = kvm,
        };

    private static readonly Gen<SandboxRequest> s_request =
        from rootfs in Gen.OneOf<string?>(null, "/srv/rootfs/a")
        from workdir in Gen.OneOf<string?>(null, "/work", "/src")
        from vcpus in Gen.OneOf<double?>(null, 0.5, 3, 100)
        from output in Gen.OneOf<long?>(null, 1000, 1 << 20)
        from env in Gen.Dictionary(s_name, s_name)[0, 3]
        select new SandboxRequest
        {
            Rootfs = rootfs,
            WorkDir = workdir,
            Resources = new RequestedLimits(Vcpus: vcpus, OutputBytes: output),
            Env = env,
        };

    /// <summary>The fields of PolicyDecision this test checks; a new field fails here until it is mapped and checked.</summary>
    private static readonly string[] s_checkedDecisionFields =
    [
        nameof(PolicyDecision.Allow), nameof(PolicyDecision.Isolation), nameof(PolicyDecision.Resources), nameof(PolicyDecision.Network),
        nameof(PolicyDecision.SyscallProfile), nameof(PolicyDecision.Reasons), nameof(PolicyDecision.DecisionId),
        nameof(PolicyDecision.BundleRevision), nameof(PolicyDecision.RequireHardwareVirtualization),
    ];

    [Fact]
    public void Every_decision_field_is_known_to_the_round_trip() =>
        Assert.Equal(s_checkedDecisionFields.Order(), typeof(PolicyDecision).GetProperties().Select(p => p.Name).Order());

    [Fact]
    public void Every_decision_field_lands_in_the_spec() =>
        Gen.Select(s_decision, s_request).Sample((d, r) =>
        {
            var (tier, spec) = DecisionTranslator.ToSpec(d, r);
            Assert.Equal(d.Isolation, TierNames.ToPolicy(tier));
            Assert.Equal(d.Resources.MemoryMiB, spec.Limits.MemoryMiB);
            Assert.Equal(r.Resources.Vcpus is > 0 and var v ? Math.Min(v, d.Resources.Vcpus) : d.Resources.Vcpus, spec.Limits.Cpus);
            Assert.True(spec.Limits.Cpus <= d.Resources.Vcpus);
            Assert.Equal(d.Resources.Pids, spec.Limits.PidsMax);
            Assert.Equal(d.Resources.DiskMiB, spec.Limits.DiskMiB);
            Assert.Equal(TimeSpan.FromSeconds(d.Resources.TimeoutSeconds), spec.Limits.WallTime);
            Assert.Equal(d.Network.Mode == NetworkModes.Egress ? NetworkMode.Egress : NetworkMode.None, spec.Network);
            Assert.Equal(d.Network.Egress, spec.EgressAllow.Select(e => e.ToString()));
            Assert.Equal(d.Network.Publish, spec.PublishedPorts.Select(p => p.ToString()));
            Assert.Equal(d.SyscallProfile.Name, spec.SyscallProfile);
            Assert.Equal(d.SyscallProfile.Add, spec.ExtraSyscalls);
            Assert.Equal(d.RequireHardwareVirtualization, spec.RequireHardwareVirtualization);
            // What the policy does not decide comes from the request.
            Assert.Equal(r.Rootfs is null ? RootfsSpec.Host : RootfsSpec.Directory(r.Rootfs), spec.Rootfs);
            Assert.Equal(r.WorkDir ?? "/work", spec.WorkDir);
            Assert.Equal(r.Resources.OutputBytes ?? Isolation.ResourceLimits.Default.OutputBytes, spec.Limits.OutputBytes);
            Assert.Equal(r.Env, spec.Env);
        });

    [Theory]
    [InlineData("root", 0, 0)]
    [InlineData("0", 0, 0)]
    [InlineData("1000", 1000, 1000)]
    [InlineData("42:100", 42, 100)]
    public void The_requested_user_lands_in_the_spec(string user, int uid, int gid)
    {
        var (_, spec) = DecisionTranslator.ToSpec(FakePolicy.Allow(), new SandboxRequest { User = user });
        Assert.Equal(new SandboxUser(uid, gid), spec.User);
        Assert.Null(DecisionTranslator.ToSpec(FakePolicy.Allow(), new SandboxRequest()).Spec.User);
    }

    [Theory]
    [InlineData("nobody")]
    [InlineData("65535")]
    [InlineData("-1")]
    [InlineData("1:2:3")]
    [InlineData("")]
    public void A_malformed_user_is_refused_naming_it(string user)
    {
        var e = Assert.Throws<SandboxException>(() => DecisionTranslator.ToSpec(FakePolicy.Allow(), new SandboxRequest { User = user }));
        Assert.Equal(SandboxErrorCode.InvalidArgument, e.Code);
        Assert.Contains($"'{user}'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_denied_decision_never_becomes_a_spec()
    {
        var e = Assert.Throws<PolicyDeniedException>(() => DecisionTranslator.ToSpec(FakePolicy.Allow() with { Allow = false, Reasons = ["no"] }, new SandboxRequest()));
        Assert.Equal(SandboxErrorCode.PermissionDenied, e.Code);
    }

    [Fact]
    public void Egress_carries_the_granted_entries_into_the_spec()
    {
        var (_, spec) = DecisionTranslator.ToSpec(FakePolicy.Allow(network: NetworkModes.Egress), new SandboxRequest());
        Assert.Equal(NetworkMode.Egress, spec.Network);
        Assert.Equal("pypi.org", Assert.Single(spec.EgressAllow).HostName);
    }

    [Fact]
    public void A_malformed_granted_entry_is_refused_naming_it()
    {
        var decision = FakePolicy.Allow() with { Network = new NetworkPolicy(NetworkModes.Egress, ["pypi.org:99999"]) };
        var e = Assert.Throws<SandboxException>(() => DecisionTranslator.ToSpec(decision, new SandboxRequest()));
        Assert.Equal(SandboxErrorCode.InvalidArgument, e.Code);
        Assert.Contains("pypi.org:99999", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_request_field_reaches_the_policy_input() =>
        Gen.Select(s_name, Gen.Bool, Gen.OneOf("tenant", "fork", "unknown"), Gen.OneOf<string?>(null, "strict", "default"), s_name.Array[0, 3])
            .Sample((image, untrusted, provenance, profile, syscalls) =>
            {
                var request = new SandboxRequest
                {
                    Tier = SandboxTier.MicroVm,
                    Image = image,
                    Rootfs = "/srv/rootfs/x",
                    Resources = new RequestedLimits(300, 1.5, 40, 50, 60),
                    Egress = ["pypi.org"],
                    Publish = ["8080:80"],
                    Syscalls = syscalls,
                    SyscallProfile = profile,
                    Untrusted = untrusted,
                    CodeProvenance = provenance,
                };
                var input = PolicyInputBuilder.Build(CoreHarness.Alice, request, new RequestInfo("r", DateTimeOffset.UnixEpoch),
                    [SandboxTier.MicroVm, SandboxTier.Container], Accelerator.Kvm);
                Assert.Equal(new SubjectInfo("acme", "uid:1000", true), input.Subject);
                Assert.Equal(new WorkloadInfo(image, "/srv/rootfs/x", provenance, untrusted), input.Workload);
                Assert.Equal("microvm", input.Requested.Isolation);
                Assert.Equal(new RequestedResources(300, 2, 40, 50, 60), input.Requested.Resources);
                Assert.Equal(NetworkModes.Egress, input.Requested.Network!.Mode);
                Assert.Equal(["pypi.org"], input.Requested.Network.Egress!);
                Assert.Equal(["8080:80"], input.Requested.Network.Publish!);
                Assert.Equal(syscalls, input.Requested.Syscalls!);
                Assert.Equal(profile, input.Requested.SyscallProfile);
                Assert.Equal(["container", "microvm"], input.Environment.Tiers);
                Assert.Equal("kvm", input.Environment.Accel);
                var json = input.ToJson();
                Assert.Equal(profile, (string?)json["requested"]!["syscall_profile"]);
            });

    [Fact]
    public void A_request_silent_about_trust_is_untrusted_code_of_unknown_provenance()
    {
        var input = PolicyInputBuilder.Build(CoreHarness.Alice, new SandboxRequest(), new RequestInfo("r", DateTimeOffset.UnixEpoch), [], Accelerator.None);
        Assert.True(input.Workload.Untrusted);
        Assert.Equal("unknown", input.Workload.CodeProvenance);
        Assert.Equal("auto", input.Requested.Isolation);
        Assert.Null(input.Requested.SyscallProfile);
        Assert.Equal("none", input.Environment.Accel);
    }
}
