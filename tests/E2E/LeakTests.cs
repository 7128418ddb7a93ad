using Sandbox.Isolation;

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
        await Assert.ThrowsAnyAsync<Exception>(() => p.WaitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(t =>
        {
            if (t.IsCompletedSuccessfully) throw new InvalidOperationException("finished");
            return t;
        }).Unwrap()).ContinueWith(_ => { });
        await Assert.ThrowsAsync<ObjectDisposedException>(() => sandbox.ExecAsync(new ProcessSpec { Argv = ["true"] }, ProcessIO.Discard, CancellationToken.None));
    }


    [Fact]
    public async Task Killing_the_owner_takes_the_sandbox_and_the_janitor_takes_its_cgroup()
    {
        // The owner is a separate process running the engine (the CLI); kill -9 it while its sandbox runs.
        var before = SandboxCgroups();
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "sandbox.dll"), "run", "--local", "--trusted", "--", "sleep", "600"]);
        using var owner = System.Diagnostics.Process.Start(psi)!;
        SandboxId? found = null;
        for (var i = 0; i < 600 && found is null; i++)
        {
            await Task.Delay(100);
            found = SandboxCgroups().Except(before).Select(n => (SandboxId?)SandboxId.Parse(n))
                .FirstOrDefault(n => Harness.CgroupLeftovers(n!.Value).Any(d => File.ReadAllText(Path.Combine(d, "cgroup.procs")).Length > 0));
        }
        Assert.NotNull(found);
        var id = found!.Value;
        owner.Kill();
        await owner.WaitForExitAsync();
        Assert.True(owner.HasExited);
        // bwrap --die-with-parent: the sandbox's processes go with their owner.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (Harness.CgroupLeftovers(id).Any(d => File.ReadAllText(Path.Combine(d, "cgroup.procs")).Length > 0) && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        Assert.All(Harness.CgroupLeftovers(id), d => Assert.Empty(File.ReadAllText(Path.Combine(d, "cgroup.procs"))));
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
