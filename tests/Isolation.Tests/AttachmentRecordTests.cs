using Sandbox.Isolation.Container;
using Sandbox.Isolation.MicroVm;

namespace Sandbox.Isolation.Tests;

/// <summary>The opaque re-attach record: what a face stores must come back as the same driver record, and a record
/// of another tier, another version or a damaged payload is refused with an error that names what is wrong.</summary>
public sealed class AttachmentRecordTests
{
    private static readonly SandboxId s_id = SandboxId.Parse("sb-0123456789abcdef");

    private static ContainerAttachment Sample() => new()
    {
        BwrapPid = 4242,
        BwrapStartTime = 123456789UL,
        InitPid = 4243,
        UidRangeBase = 0x7001_0000,
        User = SandboxUser.Root,
        AgentSocket = "/var/lib/sandboxd/channels/sb-0123456789abcdef.sock",
        Limits = ResourceLimits.Default with { MemoryMiB = 300, WallTime = null, FileSizeMiB = 7 },
        Env = new Dictionary<string, string> { ["A"] = "1", ["PATH"] = "/usr/bin" },
        WorkDir = "/work",
        Hostname = "sandbox",
        SyscallProfile = "default",
        SeccompDigest = "sha256:abc",
        CgroupPath = "/sys/fs/cgroup/memory/sandbox/sb-0123456789abcdef",
    };

    [Fact]
    public void Container_record_round_trips_through_the_opaque_attachment()
    {
        var original = Sample();
        var attachment = original.ToAttachment();
        Assert.Equal(SandboxTier.Container, attachment.Tier);
        Assert.Equal(ContainerAttachment.Version, attachment.Version);
        var back = ContainerAttachment.From(s_id, attachment);
        Assert.Equal(original.BwrapPid, back.BwrapPid);
        Assert.Equal(original.BwrapStartTime, back.BwrapStartTime);
        Assert.Equal(original.InitPid, back.InitPid);
        Assert.Equal(original.UidRangeBase, back.UidRangeBase);
        Assert.Equal(original.User, back.User);
        Assert.Equal(original.AgentSocket, back.AgentSocket);
        Assert.Equal(original.Limits, back.Limits);
        Assert.Equal(original.Env, back.Env);
        Assert.Equal(original.WorkDir, back.WorkDir);
        Assert.Equal(original.SeccompDigest, back.SeccompDigest);
        Assert.Equal(original.CgroupPath, back.CgroupPath);
        // What a face stores is a plain value: equal records for equal sandboxes.
        Assert.Equal(attachment, back.ToAttachment());
    }

    [Theory]
    [InlineData(1, "older")]
    [InlineData(3, "newer")]
    public void Container_record_of_another_version_is_refused_naming_both(int version, string who)
    {
        var attachment = Sample().ToAttachment() with { Version = version };
        var e = Assert.Throws<SandboxException>(() => ContainerAttachment.From(s_id, attachment));
        Assert.Equal(SandboxErrorCode.FailedPrecondition, e.Code);
        Assert.Contains($"version {version}", e.Message);
        Assert.Contains($"version {ContainerAttachment.Version} only", e.Message);
        Assert.Contains(who, e.Message);
        Assert.Contains(s_id.Value, e.Message);
    }

    [Fact]
    public void Record_of_another_tier_is_refused()
    {
        var attachment = Sample().ToAttachment() with { Tier = SandboxTier.MicroVm };
        var e = Assert.Throws<SandboxException>(() => ContainerAttachment.From(s_id, attachment));
        Assert.Equal(SandboxErrorCode.InvalidArgument, e.Code);
        Assert.Contains("MicroVm", e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("null")]
    [InlineData("{\"bwrap_pid\": 1}")]
    [InlineData("{\"bwrap_pid\": \"x\"}")]
    public void Damaged_payload_is_refused_as_invalid(string payload)
    {
        var attachment = new SandboxAttachment(SandboxTier.Container, ContainerAttachment.Version, payload);
        var e = Assert.Throws<SandboxException>(() => ContainerAttachment.From(s_id, attachment));
        Assert.Equal(SandboxErrorCode.InvalidArgument, e.Code);
        Assert.Contains("does not parse", e.Message);
    }

    [Fact]
    public void Unknown_fields_are_refused_rather_than_ignored()
    {
        var good = Sample().ToAttachment();
        var attachment = good with { Payload = good.Payload.TrimEnd().TrimEnd('}') + ", \"agent_socket_2\": \"/tmp/x\"}" };
        var e = Assert.Throws<SandboxException>(() => ContainerAttachment.From(s_id, attachment));
        Assert.Equal(SandboxErrorCode.InvalidArgument, e.Code);
    }

    [Fact]
    public void MicroVm_record_round_trips_and_refuses_other_versions()
    {
        var original = new MicroVmAttachment
        {
            QemuPid = 77,
            QemuStartTime = 987654321UL,
            StateDirectory = "/run/sandbox/vm/sb-0123456789abcdef",
            Accelerator = Accelerator.Tcg,
            GuestKernel = "6.1.0-28-amd64",
            Template = "abc123",
            Limits = ResourceLimits.Default with { MemoryMiB = 256 },
            Env = new Dictionary<string, string> { ["X"] = "y" },
            WorkDir = "/work",
            Hostname = "vm",
        };
        var attachment = original.ToAttachment();
        Assert.Equal(SandboxTier.MicroVm, attachment.Tier);
        Assert.Contains("\"accelerator\": \"Tcg\"", attachment.Payload.Replace("\":\"", "\": \""));
        var back = MicroVmAttachment.From(s_id, attachment);
        Assert.Equal(original.QemuPid, back.QemuPid);
        Assert.Equal(original.QemuStartTime, back.QemuStartTime);
        Assert.Equal(original.StateDirectory, back.StateDirectory);
        Assert.Equal(original.Accelerator, back.Accelerator);
        Assert.Equal(original.Limits, back.Limits);
        Assert.Equal(original.Env, back.Env);

        var e = Assert.Throws<SandboxException>(() => MicroVmAttachment.From(s_id, attachment with { Version = 9 }));
        Assert.Equal(SandboxErrorCode.FailedPrecondition, e.Code);
        e = Assert.Throws<SandboxException>(() => ContainerAttachment.From(s_id, attachment));
        Assert.Equal(SandboxErrorCode.InvalidArgument, e.Code);
    }
}
