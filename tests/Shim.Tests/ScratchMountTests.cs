namespace Sandbox.Shim.Tests;

/// <summary>An OCI bundle's tmpfs mount (`ctr run --mount type=tmpfs,...`, a Kubernetes emptyDir of medium Memory) on
/// both tiers: a tmpfs of the size asked, nosuid and nodev, that takes 512 KiB and refuses 2 MiB with ENOSPC; a bad
/// option, a destination with '..' and one under /proc refused naming them.</summary>
[Collection(ContainerdCollection.Name)]
public sealed class ScratchMountTests(ContainerdFixture fixture)
{
    private static readonly string[] MicroVm = ["--label", "io.sandbox.tier=microvm"];

    private const string Fill =
        "grep ' /cache ' /proc/mounts | tail -1; " // the last: on the container tier the made mount point is bound first
        + "dd if=/dev/zero of=/cache/half bs=1024 count=512 2>/dev/null && echo half-written; "
        + "dd if=/dev/zero of=/cache/big bs=1024 count=2048 2>&1 | grep -o 'No space left on device' | head -1";

    private Task<CommandRunner.Result> RunAsync(string[] tier, string id, string[] mounts, string[] command) =>
        fixture.CtrAsync(new[] { "run", "--rm", "--runtime", ContainerdFixture.Runtime }.Concat(tier).Concat(mounts)
            .Concat([ContainerdFixture.Image, id]).Concat(command), timeout: TimeSpan.FromSeconds(180));

    [ShimFact]
    public Task Tmpfs_ContainerTier_IsBoundedNosuidNodev() => AssertBoundedTmpfsAsync(CtrRunTests.ContainerTier, "tmpfs-ct", "container");

    [ShimFact]
    public Task Tmpfs_MicroVmTier_IsBoundedNosuidNodev() => AssertBoundedTmpfsAsync(MicroVm, "tmpfs-vm", "microvm");

    [ShimFact]
    public async Task Tmpfs_MicroVmTier_NoexecAndRo_AreApplied()
    {
        var result = await RunAsync(MicroVm, "tmpfs-vm-ro", ["--mount", "type=tmpfs,src=tmpfs,dst=/var/scratch,options=noexec:ro:mode=755"],
            ["/bin/sh", "-c", "grep ' /var/scratch ' /proc/mounts | tail -1; (touch /var/scratch/x) 2>/dev/null && echo written || echo refused"]);
        Assert.True(result.ExitCode == 0, $"{result}\n{fixture.ReadLog()}");
        var lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var options = lines[0].Split(' ')[3].Split(',');
        Assert.Equal("tmpfs", lines[0].Split(' ')[2]);
        foreach (var option in new[] { "ro", "nosuid", "nodev", "noexec", "size=65536k", "mode=755" })
            Assert.Contains(option, options);
        Assert.Equal("refused", lines[1]);
    }

    private async Task AssertBoundedTmpfsAsync(string[] tier, string id, string tierName)
    {
        var result = await RunAsync(tier, id, ["--mount", "type=tmpfs,src=tmpfs,dst=/cache,options=size=1m:mode=1777"], ["/bin/sh", "-c", Fill]);
        Assert.True(result.ExitCode == 0, $"{result}\n{fixture.ReadLog()}");
        var lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 3, result.ToString());
        var fields = lines[0].Split(' ');
        Assert.Equal(("/cache", "tmpfs"), (fields[1], fields[2]));
        var options = fields[3].Split(',');
        Assert.Contains("nosuid", options);
        Assert.Contains("nodev", options);
        Assert.Contains("size=1024k", options);
        Assert.Equal(["half-written", "No space left on device"], lines[1..]);
        Assert.Contains($"container {id}: tier {tierName}", fixture.ReadLog());
        Assert.DoesNotContain(id, (await fixture.CtrAsync(["container", "ls", "-q"])).Stdout);
    }

    [ShimFact]
    public async Task Tmpfs_InARootfsDir_TopLevelMade_MissingBelowRefused()
    {
        string[] run = ["run", "--rm", "--runtime", ContainerdFixture.Runtime, .. CtrRunTests.ContainerTier];
        var top = await fixture.CtrAsync([.. run, "--mount", "type=tmpfs,src=tmpfs,dst=/cache,options=size=1m",
            "--rootfs", fixture.Rootfs, "tmpfs-dir", "/bin/sh", "-c", Fill]);
        Assert.True(top.ExitCode == 0, $"{top}\n{fixture.ReadLog()}");
        Assert.EndsWith("half-written\nNo space left on device\n", top.Stdout);

        var below = await fixture.CtrAsync([.. run, "--mount", "type=tmpfs,src=tmpfs,dst=/etc/scratch-missing,options=size=1m",
            "--rootfs", fixture.Rootfs, "tmpfs-dir-below", "/bin/true"]);
        Assert.NotEqual(0, below.ExitCode);
        Assert.Contains("tmpfs mount at /etc/scratch-missing: the destination does not exist in the root given with --rootfs", below.Stderr);
        Assert.False(Directory.Exists(Path.Combine(fixture.Rootfs, "etc/scratch-missing")));
    }

    [ShimFact]
    public async Task Tmpfs_BadOptionOrDestination_IsRefusedNamingIt()
    {
        var option = await RunAsync(CtrRunTests.ContainerTier, "tmpfs-opt", ["--mount", "type=tmpfs,src=tmpfs,dst=/cache,options=size=1m:uid=5"], ["/bin/true"]);
        Assert.NotEqual(0, option.ExitCode);
        Assert.Contains("option 'uid=5' is not supported", option.Stderr);

        var dots = await RunAsync(CtrRunTests.ContainerTier, "tmpfs-dots", ["--mount", "type=tmpfs,src=tmpfs,dst=/cache/../etc,options=size=1m"], ["/bin/true"]);
        Assert.NotEqual(0, dots.ExitCode);
        Assert.Contains("tmpfs → /cache/../etc", dots.Stderr);
        Assert.Contains("'..'", dots.Stderr);

        var proc = await RunAsync(CtrRunTests.ContainerTier, "tmpfs-proc", ["--mount", "type=tmpfs,src=tmpfs,dst=/proc/x,options=size=1m"], ["/bin/true"]);
        Assert.NotEqual(0, proc.ExitCode);
        Assert.Contains("tmpfs → /proc/x): the destination is the engine's own", proc.Stderr);

        var noexec = await RunAsync(CtrRunTests.ContainerTier, "tmpfs-noexec", ["--mount", "type=tmpfs,src=tmpfs,dst=/cache,options=size=1m:noexec"], ["/bin/true"]);
        Assert.NotEqual(0, noexec.ExitCode);
        Assert.Contains("noexec is not applied on the container tier", noexec.Stderr);
        foreach (var id in new[] { "tmpfs-opt", "tmpfs-dots", "tmpfs-proc", "tmpfs-noexec" })
            Assert.DoesNotContain(id, (await fixture.CtrAsync(["container", "ls", "-q"])).Stdout);
    }
}
