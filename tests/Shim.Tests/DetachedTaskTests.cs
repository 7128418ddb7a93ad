namespace Sandbox.Shim.Tests;

/// <summary>An image run through the overlay snapshotter, detached: exec, ps, pause/resume, metrics, kill, delete, the
/// events containerd saw (in the order its README requires), and containerd restarted while the task runs.</summary>
[Collection(ContainerdCollection.Name)]
public sealed class DetachedTaskTests(ContainerdFixture fixture)
{
    private Task<CommandRunner.Result> Ctr(params string[] args) => fixture.CtrAsync(args);

    [ShimFact]
    public async Task ImageRun_OverlayRootfsFromTheSnapshotter()
    {
        var result = await fixture.CtrAsync(new[] { "run", "--rm", "--runtime", ContainerdFixture.Runtime }.Concat(CtrRunTests.ContainerTier)
            .Concat([ContainerdFixture.Image, "img-run", "/bin/sh", "-c", "echo from-image; grep -c ' / ' /proc/self/mountinfo >/dev/null && echo mounted"]));
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("from-image", result.Stdout);
        Assert.False(Directory.Exists($"/run/sandbox-shim/{ContainerdFixture.Namespace}/img-run"), "the overlay mount point was left behind");
    }

    [ShimFact]
    public async Task Detached_ExecPsPauseResumeMetricsKillDelete_WithEventsInOrder()
    {
        const string id = "det-1";
        using var events = new EventRecorder(fixture);
        var run = await fixture.CtrAsync(new[] { "run", "-d", "--runtime", ContainerdFixture.Runtime }.Concat(CtrRunTests.ContainerTier)
            .Concat([ContainerdFixture.Image, id, "/bin/sleep", "1000"]));
        Assert.True(run.ExitCode == 0, run.ToString());

        var exec = await Ctr("task", "exec", "--exec-id", "e1", id, "/bin/sh", "-c", "echo exec-out; exit 4");
        Assert.True(exec.ExitCode == 4, exec.ToString());
        Assert.Equal("exec-out\n", exec.Stdout);

        var ps = await Ctr("task", "ps", id);
        Assert.True(ps.ExitCode == 0, ps.ToString());
        Assert.Matches(@"\n\d+", ps.Stdout);

        Assert.Equal(0, (await Ctr("task", "pause", id)).ExitCode);
        Assert.Contains("PAUSED", (await Ctr("task", "ls")).Stdout);
        Assert.Equal(0, (await Ctr("task", "resume", id)).ExitCode);
        Assert.Contains("RUNNING", (await Ctr("task", "ls")).Stdout);

        var metrics = await Ctr("task", "metrics", id);
        Assert.True(metrics.ExitCode == 0, metrics.ToString());
        // ctr prints memory.usage_in_bytes and the pids count: real numbers, never zeros.
        Assert.Matches(@"memory\.usage_in_bytes\s+[1-9]\d*", metrics.Stdout);
        Assert.Matches(@"pids\.current\s+[1-9]\d*", metrics.Stdout);

        Assert.Equal(0, (await Ctr("task", "kill", "-s", "SIGKILL", id)).ExitCode);
        await events.TaskTopicsUntilAsync(id, "/tasks/exit", 2, TimeSpan.FromSeconds(15));
        Assert.Matches($@"{id}\s+\d+\s+STOPPED", (await Ctr("task", "ls")).Stdout);
        var again = await Ctr("task", "kill", "-s", "SIGKILL", id);
        Assert.Contains("process already finished", again.Stderr);
        var delete = await Ctr("task", "delete", id);
        Assert.True(delete.ExitCode == 0, delete.ToString());
        Assert.Contains("exit code 137", delete.Stderr);
        Assert.Equal(0, (await Ctr("container", "rm", id)).ExitCode);

        var topics = await events.TaskTopicsUntilAsync(id, "/tasks/delete", TimeSpan.FromSeconds(15));
        Assert.Equal(["/tasks/create", "/tasks/start", "/tasks/exec-added", "/tasks/exec-started", "/tasks/exit", "/tasks/paused",
            "/tasks/resumed", "/tasks/exit", "/tasks/delete"], topics);
    }

    [ShimFact]
    public async Task ContainerdRestart_FindsTheRunningTaskAgain()
    {
        const string id = "restart-1";
        var run = await fixture.CtrAsync(new[] { "run", "-d", "--runtime", ContainerdFixture.Runtime }.Concat(CtrRunTests.ContainerTier)
            .Concat(["--rootfs", fixture.Rootfs, id, "/bin/sleep", "1000"]));
        Assert.True(run.ExitCode == 0, run.ToString());
        await fixture.StopContainerdAsync();
        await fixture.StartContainerdAsync();
        using var after = new EventRecorder(fixture);
        var ls = await Ctr("task", "ls");
        Assert.Matches($@"{id}\s+\d+\s+RUNNING", ls.Stdout);
        var exec = await Ctr("task", "exec", "--exec-id", "after", id, "/bin/echo", "still-here");
        Assert.Equal("still-here\n", exec.Stdout);
        Assert.Equal(0, (await Ctr("task", "kill", "-s", "SIGTERM", id)).ExitCode);
        // The shim's events reach the restarted containerd (it re-dials the ttrpc socket).
        Assert.Contains("/tasks/exit", await after.TaskTopicsUntilAsync(id, "/tasks/exit", TimeSpan.FromSeconds(20)));
        Assert.Contains("exit code 143", (await Ctr("task", "delete", id)).Stderr);
        Assert.Equal(0, (await Ctr("container", "rm", id)).ExitCode);
        Assert.Empty(ProcessExit.StillAliveAfter(fixture.LiveShims(), TimeSpan.FromSeconds(60)));
    }
}
