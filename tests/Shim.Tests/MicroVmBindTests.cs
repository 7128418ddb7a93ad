namespace Sandbox.Shim.Tests;

/// <summary>OCI bind mounts into a microVM container (9p shares through the VMM jail): a host directory and a file
/// read, a read-only one refusing a write, a read-write one whose write the host sees; sources through a symlink or
/// with '..' refused naming them.</summary>
[Collection(ContainerdCollection.Name)]
public sealed class MicroVmBindTests(ContainerdFixture fixture)
{
    private static readonly string[] MicroVm = ["--label", "io.sandbox.tier=microvm"];

    private Task<CommandRunner.Result> RunAsync(string id, string[] mounts, string[] command) =>
        fixture.CtrAsync(new[] { "run", "--rm", "--runtime", ContainerdFixture.Runtime }.Concat(MicroVm).Concat(mounts)
            .Concat([ContainerdFixture.Image, id]).Concat(command), timeout: TimeSpan.FromSeconds(180));

    private string HostDir(string name, UnixFileMode mode)
    {
        var dir = Path.Combine(fixture.Dir, name);
        Directory.CreateDirectory(dir);
        File.SetUnixFileMode(dir, mode);
        File.WriteAllText(Path.Combine(dir, "hello"), $"hello-{name}\n");
        File.SetUnixFileMode(Path.Combine(dir, "hello"), (UnixFileMode)0b110_100_100);
        return dir;
    }

    [ShimFact]
    public async Task BindMounts_ReadOnlyAndReadWrite_DirectoryAndFile_AsTheSpecSays()
    {
        var ro = HostDir("vm-bind-ro", (UnixFileMode)0b111_101_101);
        // The VM's QEMU writes as its own unprivileged host uid: the directory lets anyone write.
        var rw = HostDir("vm-bind-rw", (UnixFileMode)0b111_111_111);
        var file = HostDir("vm-bind-file", (UnixFileMode)0b111_101_101);
        var result = await RunAsync("vm-binds",
        [
            "--mount", $"type=bind,src={ro},dst=/data/in,options=rbind:ro",
            "--mount", $"type=bind,src={rw},dst=/data/out,options=rbind:rw",
            "--mount", $"type=bind,src={file}/hello,dst=/greeting,options=rbind:ro",
        ],
        ["/bin/sh", "-c",
            "cat /data/in/hello; (echo x > /data/in/new) 2>/dev/null && echo written || echo refused; "
            + "cat /greeting; ls /greeting; cat /data/out/hello; echo from-guest > /data/out/written && echo wrote"]);
        Assert.True(result.ExitCode == 0, $"{result}\n{fixture.ReadLog()}");
        Assert.Equal("hello-vm-bind-ro\nrefused\nhello-vm-bind-file\n/greeting\nhello-vm-bind-rw\nwrote\n", result.Stdout);
        Assert.False(File.Exists(Path.Combine(ro, "new")));
        Assert.Equal("from-guest\n", File.ReadAllText(Path.Combine(rw, "written")));
        // Nothing of the sibling files of a bound file reaches the guest: the share holds only the file.
        Assert.Contains("container vm-binds: tier microvm chosen by the policy", fixture.ReadLog());
        Assert.DoesNotContain("vm-binds", (await fixture.CtrAsync(["container", "ls", "-q"])).Stdout);
    }

    [ShimFact]
    public async Task BindMount_UnsafeSources_AreRefusedNamingThem()
    {
        var dir = HostDir("vm-bind-target", (UnixFileMode)0b111_101_101);
        var link = Path.Combine(fixture.Dir, "vm-bind-link");
        if (!File.Exists(link) && !Directory.Exists(link))
            File.CreateSymbolicLink(link, dir);
        var throughLink = await RunAsync("vm-bind-link", ["--mount", $"type=bind,src={link},dst=/data,options=rbind:ro"], ["/bin/true"]);
        Assert.NotEqual(0, throughLink.ExitCode);
        Assert.Contains($"{link} is a symlink", throughLink.Stderr);

        var dotdot = $"{dir}/../vm-bind-target";
        var withDots = await RunAsync("vm-bind-dots", ["--mount", $"type=bind,src={dotdot},dst=/data,options=rbind:ro"], ["/bin/true"]);
        Assert.NotEqual(0, withDots.ExitCode);
        Assert.Contains($"host mount {dotdot}", withDots.Stderr);
        Assert.Contains("'..'", withDots.Stderr);

        var noexec = await RunAsync("vm-bind-noexec", ["--mount", $"type=bind,src={dir},dst=/data,options=rbind:ro:noexec"], ["/bin/true"]);
        Assert.NotEqual(0, noexec.ExitCode);
        Assert.Contains("option noexec is not applied on the microvm tier", noexec.Stderr);
        foreach (var id in new[] { "vm-bind-link", "vm-bind-dots", "vm-bind-noexec" })
            Assert.DoesNotContain(id, (await fixture.CtrAsync(["task", "ls"])).Stdout);
    }
}
