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

}
