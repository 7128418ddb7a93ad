using Sandbox.Isolation;
using Sandbox.Isolation.Container;

namespace Sandbox.E2E;

/// <summary>Nothing is left on the host after runs, failures, timeouts and disposal: no process, cgroup or descriptor.</summary>
[Collection(SerialCollection.Name)]
public sealed class LeakTests
{
    private static ISandboxDriver Driver => Harness.Driver;

    [Fact]
    public async Task Many_runs_leak_no_process_cgroup_or_descriptor()
    {
        // Warm up (thread pool, epoll, caches), then count: a leak grows with the number of runs.
        await Harness.RunAsync(ExecutionMode.Agent, Harness.Sh("true"));
        await Harness.RunAsync(ExecutionMode.OneShot, Harness.Sh("true"));
        var fdsBefore = Directory.GetFiles("/proc/self/fd").Length;
        var bwrapBefore = Harness.OurBwrapChildren().Count;
        var ids = new List<SandboxId>();
        for (var i = 0; i < 20; i++)
        {
            var spec = new SandboxSpec();
            ids.Add(spec.Id);
            await Harness.RunAsync(i % 2 == 0 ? ExecutionMode.OneShot : ExecutionMode.Agent, Harness.Sh("sleep 30 & echo started"),
                spec with { Limits = ResourceLimits.Default with { WallTime = TimeSpan.FromMilliseconds(300) } });
            try
            {
                await Harness.RunAsync(ExecutionMode.OneShot, new ProcessSpec { Argv = ["missing-binary"] });
            }
            catch (SandboxException)
            {
            }
        }
        Assert.All(ids, id => Assert.Empty(Harness.CgroupLeftovers(id)));
        Assert.Equal(bwrapBefore, Harness.OurBwrapChildren().Count);
        Assert.InRange(Directory.GetFiles("/proc/self/fd").Length, 0, fdsBefore + 8);
    }

    [Fact]
    public async Task Dispose_kills_everything_and_leaves_nothing()
    {
        var bwrapBefore = Harness.OurBwrapChildren().Count;
        var sandbox = await Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        var id = sandbox.Info.Id;
        var p = await sandbox.ExecAsync(Harness.Sh("sleep 100 & sleep 100 & wait"), ProcessIO.Discard, CancellationToken.None);
        Assert.NotEmpty(Harness.CgroupLeftovers(id));
        await sandbox.DisposeAsync();
        await sandbox.DisposeAsync(); // idempotent
        Assert.Empty(Harness.CgroupLeftovers(id));
        Assert.Equal(bwrapBefore, Harness.OurBwrapChildren().Count);
        // The process died with its sandbox: its wait ends (it must not hang) and must not report a normal exit.
        var waited = await Record.ExceptionAsync(async () =>
        {
            var status = await p.WaitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromMinutes(1));
            Assert.Fail($"the wait of a process killed by dispose reported an exit: {status}");
        });
        Assert.NotNull(waited);
        Assert.IsNotType<TimeoutException>(waited);
        Assert.IsNotType<Xunit.Sdk.FailException>(waited);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => sandbox.ExecAsync(new ProcessSpec { Argv = ["true"] }, ProcessIO.Discard, CancellationToken.None));
    }

    [Fact]
    public async Task Dispose_of_a_sandbox_that_outlives_its_owner_kills_what_left_the_agents_process_groups()
    {
        // No --die-with-parent and no Shutdown call to the agent: teardown ends it through its PID 1's pidfd (the kernel
        // kills the rest of the pid namespace), and the cgroup kill after it is the net. A process in a session of its
        // own is out of reach of the agent's process-group kill; dispose must take it all the same.
        var channels = Directory.CreateTempSubdirectory("sandbox-e2e-channels-").FullName;
        try
        {
            var bwrapBefore = Harness.OurBwrapChildren().Count;
            var driver = new BubblewrapDriver(new BubblewrapOptions { AgentDirectory = Harness.AgentDirectory, ChannelDirectory = channels });
            var sandbox = await driver.CreateAsync(new SandboxSpec { DieWithOwner = false }, CancellationToken.None);
            var id = sandbox.Info.Id;
            var status = await (await sandbox.ExecAsync(Harness.Sh("setsid sleep 300 < /dev/null > /dev/null 2>&1 & echo started"), ProcessIO.Discard,
                CancellationToken.None)).WaitAsync(CancellationToken.None);
            Assert.Equal(0, status.ExitCode);
            Assert.NotEmpty(Harness.CgroupLeftovers(id));
            await sandbox.DisposeAsync();
            Assert.Empty(Harness.CgroupLeftovers(id));
            Assert.Equal(bwrapBefore, Harness.OurBwrapChildren().Count);
            Assert.Empty(Directory.GetFiles(channels));
        }
        finally
        {
            Directory.Delete(channels, recursive: true);
        }
    }

    [Fact]
    public async Task Killing_the_owner_takes_the_sandbox_and_the_janitor_takes_its_cgroup()
    {
        // The owner is a separate process running the engine (the CLI); kill -9 it while its sandbox runs.
        var before = SandboxCgroups();
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet",
            [Path.Combine(AppContext.BaseDirectory, "sandbox.dll"), "run", "--local", "--trusted", "--", "sh", "-c", "echo running; exec sleep 600"])
        {
            RedirectStandardOutput = true,
        };
        using var owner = System.Diagnostics.Process.Start(psi)!;
        // The sandboxed command says it runs (a real signal, not a sleep): its cgroup exists and holds it by then.
        Assert.Equal("running", await owner.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(2)));
        // The owner's own sandbox: the one holding its bwrap (a child of the owner). Other test projects run sandboxes
        // under the same cgroup parent meanwhile, so "a new cgroup with processes" could be one of theirs.
        var found = SandboxCgroups().Except(before).Select(n => (SandboxId?)SandboxId.Parse(n))
            .FirstOrDefault(n => Harness.CgroupLeftovers(n!.Value).Any(d => CgroupTree.Procs(d).Any(pid => HostProcess.ParentPid(pid) == owner.Id)));
        Assert.NotNull(found);
        var id = found!.Value;
        owner.Kill();
        await owner.WaitForExitAsync();
        Assert.True(owner.HasExited);
        // bwrap --die-with-parent: the sandbox's processes go with their owner. The kernel offers no event for an
        // empty v1 cgroup, so this is a bounded poll of its task list (generous: the host is shared).
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (Harness.CgroupLeftovers(id).Any(d => CgroupTree.Procs(d).Count > 0) && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        Assert.All(Harness.CgroupLeftovers(id), d => Assert.Empty(CgroupTree.Procs(d)));
        // What is left is an empty cgroup whose owner is dead: the janitor removes it.
        ((Sandbox.Isolation.Container.BubblewrapDriver)Driver).RemoveStaleCgroups();
        Assert.Empty(Harness.CgroupLeftovers(id));
    }

    private static HashSet<string> SandboxCgroups()
    {
        var dir = Path.Combine(Sandbox.Isolation.Cgroups.CgroupLayout.Host.Version == Sandbox.Isolation.Cgroups.CgroupVersion.V2
            ? Sandbox.Isolation.Cgroups.CgroupLayout.Host.UnifiedMount! : Sandbox.Isolation.Cgroups.CgroupLayout.Host.V1Mounts["pids"], "sandbox");
        return Directory.Exists(dir) ? Directory.EnumerateDirectories(dir).Select(d => Path.GetFileName(d)).ToHashSet() : [];
    }
}
