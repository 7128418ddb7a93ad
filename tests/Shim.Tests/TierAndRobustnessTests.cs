namespace Sandbox.Shim.Tests;

/// <summary>The policy's tier per container under the shim, visible in containerd's log and the shim's record; and a
/// shim killed with SIGKILL, after which containerd's `delete` leaves nothing behind.</summary>
[Collection(ContainerdCollection.Name)]
public sealed class TierAndRobustnessTests(ContainerdFixture fixture)
{
    private Task<CommandRunner.Result> Ctr(params string[] args) => fixture.CtrAsync(args, timeout: TimeSpan.FromSeconds(120));

    [ShimFact]
    public async Task SilentBundle_IsUntrusted_RunsInAMicroVm_DecisionVisible()
    {
        const string id = "tier-vm";
        // No trust annotation: untrusted by default, and the default policy sends untrusted code to a microVM.
        var run = await Ctr("run", "-d", "--runtime", ContainerdFixture.Runtime, "--rootfs", fixture.Rootfs, id, "/bin/sleep", "1000");
        Assert.True(run.ExitCode == 0, $"{run}\n{fixture.ReadLog()}");
        try
        {
            Assert.StartsWith("microvm ", await File.ReadAllTextAsync($"/run/sandbox-shim/{ContainerdFixture.Namespace}/{id}/tier"));
            Assert.Contains($"container {id}: tier microvm chosen by the policy", fixture.ReadLog());
            // The guest kernel is not the host's.
            var uname = await Ctr("task", "exec", "--exec-id", "k", id, "/bin/uname", "-r");
            Assert.True(uname.ExitCode == 0, uname.ToString());
            Assert.NotEqual((await CommandRunner.RunAsync("/bin/uname", ["-r"])).Stdout, uname.Stdout);
        }
        finally
        {
            await Ctr("task", "kill", "-s", "SIGKILL", id);
            await DeleteWhenStoppedAsync(id);
        }
    }

    [ShimFact]
    public async Task TierHint_Container_ForTrustedCode_IsRecorded()
    {
        const string id = "tier-ct";
        var run = await Ctr(new[] { "run", "--rm", "--runtime", ContainerdFixture.Runtime }.Concat(CtrRunTests.ContainerTier)
            .Concat(["--rootfs", fixture.Rootfs, id, "/bin/true"]).ToArray());
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains($"container {id}: tier container chosen by the policy", fixture.ReadLog());
    }

    [ShimFact]
    public async Task ShimKilled_DeleteCleansUpMountsAndSandbox()
    {
        const string id = "killed-1";
        using var events = new EventRecorder(fixture);
        var run = await Ctr(new[] { "run", "-d", "--runtime", ContainerdFixture.Runtime }.Concat(CtrRunTests.ContainerTier)
            .Concat([ContainerdFixture.Image, id, "/bin/sleep", "1000"]).ToArray());
        Assert.True(run.ExitCode == 0, run.ToString());
        var mount = $"/run/sandbox-shim/{ContainerdFixture.Namespace}/{id}/rootfs";
        Assert.True(IsMounted(mount), "the snapshot is not mounted where the shim mounts it");
        var shims = fixture.LiveShims();
        Assert.Single(shims);
        var sandboxPids = SandboxCgroupPids();
        Assert.NotEmpty(sandboxPids);

        Assert.Equal(0, kill(shims[0], 9));
        // containerd sees the shim die, publishes the exit itself and runs `delete`.
        await events.TaskTopicsUntilAsync(id, "/tasks/exit", TimeSpan.FromSeconds(30));
        Assert.Empty(ProcessExit.StillAliveAfter(sandboxPids, TimeSpan.FromSeconds(60)));
        await Ctr("task", "delete", id);
        Assert.Equal(0, (await Ctr("container", "rm", id)).ExitCode);
        Assert.False(IsMounted(mount), $"{mount} is still mounted");
        Assert.False(Directory.Exists(Path.GetDirectoryName(mount)), "the shim's state of the container was left behind");
    }

    private async Task DeleteWhenStoppedAsync(string id)
    {
        using var events = new EventRecorder(fixture);
        if (!(await Ctr("task", "ls")).Stdout.Contains("STOPPED"))
            await events.TaskTopicsUntilAsync(id, "/tasks/exit", TimeSpan.FromSeconds(60));
        await Ctr("task", "delete", id);
        await Ctr("container", "rm", id);
        Assert.Empty(ProcessExit.StillAliveAfter(fixture.LiveShims(), TimeSpan.FromSeconds(60)));
    }

    private static bool IsMounted(string path) =>
        File.ReadAllLines("/proc/self/mountinfo").Any(l => l.Split(' ')[4] == path);

    /// <summary>Host pids in the shim's sandbox cgroups (memory hierarchy on v1, unified on v2).</summary>
    private static IReadOnlyList<int> SandboxCgroupPids()
    {
        var parent = Directory.Exists("/sys/fs/cgroup/memory/sandbox-shim") ? "/sys/fs/cgroup/memory/sandbox-shim" : "/sys/fs/cgroup/sandbox-shim";
        // Every level: a long-lived sandbox's processes sit in its sub-cgroups (agent/, one per exec).
        return Directory.EnumerateDirectories(parent, "*", SearchOption.AllDirectories)
            .SelectMany(d => File.ReadAllLines(Path.Combine(d, "cgroup.procs")))
            .Select(int.Parse).ToList();
    }

    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern int kill(int pid, int signal);
}
