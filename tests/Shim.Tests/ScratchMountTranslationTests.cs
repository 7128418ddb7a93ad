using System.Text.Json;
using Sandbox.Core;
using Sandbox.Isolation;
using Sandbox.KataShim.Oci;
using Sandbox.Policy;

namespace Sandbox.Shim.Tests;

/// <summary>A bundle's tmpfs mounts → the request's scratch mounts → the spec (sized against the granted disk cap) and
/// its checks. No containerd needed; the mounts in a real sandbox: <see cref="ScratchMountTests"/>.</summary>
public sealed class ScratchMountTranslationTests
{
    private static ContainerPlan Translate(string mounts) =>
        BundleTranslator.Translate(JsonSerializer.Deserialize($$"""
            {"process":{"args":["/bin/true"]},"root":{"path":"/r"},"mounts":[{{mounts}}]}
            """, OciJson.Default.OciSpec)!, "/bundle");

    private static PolicyDecision Allow(long diskMiB) => new()
    {
        Allow = true,
        Isolation = IsolationTiers.Container,
        Resources = new Sandbox.Policy.ResourceLimits(256, 1, 64, diskMiB, 60),
        Network = new NetworkPolicy(NetworkModes.None, []),
        SyscallProfile = new SyscallProfileRef("default", []),
        Reasons = ["test"],
        DecisionId = "dec-test",
    };

    [Fact]
    public void TmpfsMounts_BecomeScratchMounts_SizedByDefaultToTheSmallerOf64MiBAndTheDiskCap()
    {
        var plan = Translate("""
            {"destination":"/cache","type":"tmpfs","source":"tmpfs","options":["nosuid","nodev","size=1m","mode=1777"]},
            {"destination":"/scratch","type":"tmpfs","source":"tmpfs","options":["ro","noexec","mode=700"]},
            {"destination":"/dev/shm","type":"tmpfs","source":"shm","options":["size=65536k"]}
            """);
        Assert.Equal([new ScratchMount("/cache", 1 << 20, 0x3FF), new ScratchMount("/scratch", 0, 0x1C0, ReadOnly: true, NoExec: true)],
            plan.Request.ScratchMounts);

        var (_, spec) = DecisionTranslator.ToSpec(Allow(diskMiB: 128), plan.Request);
        Assert.Equal([1L << 20, 64L << 20], spec.ScratchMounts.Select(m => m.SizeBytes));
        SpecValidator.Validate(spec with { Rootfs = RootfsSpec.Host });
        var (_, small) = DecisionTranslator.ToSpec(Allow(diskMiB: 16), plan.Request);
        Assert.Equal(16L << 20, small.ScratchMounts[1].SizeBytes);
    }

    [Fact]
    public void TmpfsMounts_BadOptionsAndDestinations_AreRefusedNamingThem()
    {
        var e = Assert.Throws<SandboxException>(() => Translate("""
            {"destination":"/a","type":"tmpfs","source":"tmpfs","options":["uid=5","size=lots","mode=999"]},
            {"destination":"/a/../etc","type":"tmpfs","source":"tmpfs"},
            {"destination":"/proc/x","type":"tmpfs","source":"tmpfs"}
            """));
        foreach (var part in new[] { "mounts[0] (tmpfs → /a): option 'uid=5' is not supported", "'size=lots' is not a size", "'mode=999' is not an octal mode",
                     "mounts[1] (tmpfs → /a/../etc): the destination must be an absolute path without '.' or '..'", "mounts[2] (tmpfs → /proc/x): the destination is the engine's own" })
            Assert.Contains(part, e.Message);

        // The engine's own checks (whoever builds the spec): bounded by the disk cap, not the sandbox's own dirs, not twice.
        var v = Assert.Throws<SpecValidationException>(() => SpecValidator.Validate(new SandboxSpec
        {
            Limits = new Sandbox.Isolation.ResourceLimits { DiskMiB = 8 },
            HostMounts = [new HostMount("/srv", "/data")],
            ScratchMounts = [new ScratchMount("/big", 9 << 20), new ScratchMount("/run/x", 1), new ScratchMount("/data", 1), new ScratchMount("/w/./x", 1)],
        }));
        foreach (var part in new[] { "tmpfs mount at /big: size 9437184 bytes is larger than the disk cap granted (8 MiB)", "tmpfs mount at /run/x: the destination is the sandbox's own",
                     "tmpfs mount at /data: the destination is mounted twice", "tmpfs mount at /w/./x: the destination must be an absolute path" })
            Assert.Contains(part, string.Join("\n", v.Errors));
    }
}
