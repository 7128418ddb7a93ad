namespace Sandbox.Shim.Tests;

/// <summary>One scenario list run with containerd's runc shim (`io.containerd.runc.v2`) and with ours: exit codes,
/// output and event sequences must match, except where docs/shim.md documents a difference (those are asserted to
/// differ in the documented way, so the documentation stays true).</summary>
[Collection(ContainerdCollection.Name)]
public sealed class DifferentialTests(ContainerdFixture fixture)
{
    private const string Runc = "io.containerd.runc.v2";

    private sealed record Scenario(string Name, string[] Command, string[] Extra);

    private static readonly Scenario[] Same =
    [
        new("exit-and-output", ["/bin/sh", "-c", "echo out; echo err >&2; exit 3"], []),
        // The shell's stderr is dropped: whether dash prints "Terminated" for the killed job depends on whether the
        // child is still running when `wait` starts, a race under load on either runtime (the status is what counts).
        new("signalled-child", ["/bin/sh", "-c", "exec 2>/dev/null; sleep 100 & kill -TERM $!; wait $!; echo status $?"], []),
        new("exit-zero", ["/bin/true"], []),
        new("failing-command", ["/bin/ls", "/nonexistent"], []),
        new("env-and-cwd", ["/bin/sh", "-c", "pwd; echo \"$GREETING\""], ["--env", "GREETING=hello", "--cwd", "/tmp"]),
        new("many-lines", ["/bin/sh", "-c", "seq 1 20000; echo done >&2"], []),
        new("args-verbatim", ["/bin/echo", "a b", "$HOME", "'q'"], []),
    ];

    [ShimFact]
    public async Task ScenarioList_SameResultsAsRunc()
    {
        var mismatches = new List<string>();
        foreach (var s in Same)
        {
            var runc = await RunAsync(Runc, "r-" + s.Name, s);
            var ours = await RunAsync(ContainerdFixture.Runtime, "s-" + s.Name, s);
            if (runc.ExitCode != ours.ExitCode || runc.Stdout != ours.Stdout || runc.Stderr != ours.Stderr)
                mismatches.Add($"{s.Name}: runc {runc} | ours {ours}");
        }
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
    }

    [ShimFact]
    public async Task MissingProgram_BothFailTheRun()
    {
        var s = new Scenario("missing", ["/bin/no-such-program"], []);
        var runc = await RunAsync(Runc, "r-missing", s);
        var ours = await RunAsync(ContainerdFixture.Runtime, "s-missing", s);
        Assert.NotEqual(0, runc.ExitCode);
        Assert.NotEqual(0, ours.ExitCode);
        Assert.Contains("no-such-program", ours.Stderr);
    }

    [ShimFact]
    public async Task DocumentedDifferences_StillHold()
    {
        // The workload is the sandbox's unprivileged user, not root; the root is read-only.
        var id = new Scenario("uid", ["/bin/id", "-u"], []);
        Assert.Equal("0\n", (await RunAsync(Runc, "r-uid", id)).Stdout);
        Assert.Equal("1000\n", (await RunAsync(ContainerdFixture.Runtime, "s-uid", id)).Stdout);
        var write = new Scenario("write-root", ["/bin/sh", "-c", "touch /written && echo wrote"], []);
        Assert.Equal(0, (await RunAsync(Runc, "r-write", write)).ExitCode);
        Assert.NotEqual(0, (await RunAsync(ContainerdFixture.Runtime, "s-write", write)).ExitCode);
        File.Delete(Path.Combine(fixture.Rootfs, "written"));
        // The container's process is not PID 1 here (the agent is), so a signal it has no handler for is not ignored.
        var pid1 = new Scenario("pid1-signal", ["/bin/sh", "-c", "kill -TERM $$"], []);
        Assert.Equal(0, (await RunAsync(Runc, "r-pid1", pid1)).ExitCode);
        Assert.Equal(143, (await RunAsync(ContainerdFixture.Runtime, "s-pid1", pid1)).ExitCode);
    }

    [ShimFact]
    public async Task DetachedLifecycle_SameEventSequenceAsRunc()
    {
        Assert.Equal(await LifecycleEventsAsync(Runc, "r-events"), await LifecycleEventsAsync(ContainerdFixture.Runtime, "s-events"));
    }

    private async Task<IReadOnlyList<string>> LifecycleEventsAsync(string runtime, string id)
    {
        using var events = new EventRecorder(fixture);
        var run = await fixture.CtrAsync(new[] { "run", "-d", "--runtime", runtime }.Concat(CtrRunTests.ContainerTier)
            .Concat(["--rootfs", fixture.Rootfs, id, "/bin/sleep", "1000"]));
        Assert.True(run.ExitCode == 0, run.ToString());
        var exec = await fixture.CtrAsync(["task", "exec", "--exec-id", "e1", id, "/bin/sh", "-c", "exit 2"]);
        Assert.Equal(2, exec.ExitCode);
        Assert.Equal(0, (await fixture.CtrAsync(["task", "pause", id])).ExitCode);
        Assert.Equal(0, (await fixture.CtrAsync(["task", "resume", id])).ExitCode);
        Assert.Equal(0, (await fixture.CtrAsync(["task", "kill", "-s", "SIGKILL", id])).ExitCode);
        await events.TaskTopicsUntilAsync(id, "/tasks/exit", 2, TimeSpan.FromSeconds(20));
        await fixture.CtrAsync(["task", "delete", id]);
        var topics = await events.TaskTopicsUntilAsync(id, "/tasks/delete", TimeSpan.FromSeconds(20));
        await fixture.CtrAsync(["container", "rm", id]);
        return topics;
    }

    private Task<CommandRunner.Result> RunAsync(string runtime, string id, Scenario s) =>
        fixture.CtrAsync(new[] { "run", "--rm", "--runtime", runtime }.Concat(CtrRunTests.ContainerTier).Concat(s.Extra)
            .Concat(["--rootfs", fixture.Rootfs, id]).Concat(s.Command));
}
