using Sandbox.Isolation;
using Sandbox.Policy;

namespace Sandbox.Core.Tests;

/// <summary>Warm pools over the fake drivers: which request claims a pooled sandbox, what it gets applied, that a miss
/// launches afresh, that every pooled sandbox serves one claimant and is destroyed, TTL replacement on the fake clock,
/// and shutdown. Real isolation between two claimants is proven with bwrap and QEMU in tests/SandboxApi.Tests
/// (PoolIsolationTests).</summary>
public sealed class PoolTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    private static PoolShape Shape(int size = 2, SandboxTier tier = SandboxTier.Container, string name = "default") =>
        new(name, size, CoreHarness.Alice, CoreHarness.Trusted() with { Tier = tier });

    private static async Task<CoreHarness> StartAsync(PoolOptions pools, bool outlive = true, Func<PolicyInput, PolicyDecision>? decide = null,
        Action<CoreHarness>? before = null)
    {
        var h = new CoreHarness(policy: decide is null ? null : new FakePolicy(decide),
            options: new SandboxCoreOptions { SandboxesOutliveOwner = outlive, Pools = pools });
        before?.Invoke(h);
        await h.Core.StartPoolsAsync(None);
        return h;
    }

    private static Task FullAsync(CoreHarness h, string pool = "default", int size = 2) =>
        h.Core.Pools.WaitUntilAsync(p => p.Sizes.GetValueOrDefault(pool) == size, None).WaitAsync(TimeSpan.FromMinutes(1));

    [Fact]
    public async Task Create_claims_a_waiting_sandbox_applies_its_limits_and_the_pool_refills()
    {
        // The policy grants what is asked: the pool's shape asks nothing (256 MiB), the claimant 128.
        await using var h = await StartAsync(new PoolOptions { Shapes = [Shape()] },
            decide: i => FakePolicy.Allow(memoryMiB: i.Requested?.Resources?.MemoryMiB ?? 256));
        await FullAsync(h);
        var pooled = h.Container.Live.Select(s => s.Info.Id).ToHashSet();
        Assert.Equal(2, pooled.Count);
        // Pooled sandboxes belong to no tenant: not listed, not counted.
        Assert.Empty(h.Sandboxes.List(CoreHarness.Alice));

        var entry = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted() with { Resources = new RequestedLimits(MemoryMiB: 128) }, None);

        Assert.Contains(entry.Id, pooled);
        var claimed = h.Container.Live.Single(s => s.Info.Id == entry.Id);
        Assert.Equal(128, claimed.UpdatedLimits!.MemoryMiB);
        Assert.Equal(claimed.UpdatedLimits, entry.Info!.Limits);
        Assert.Equal(1, h.Metrics.PoolHits);
        await FullAsync(h);
        Assert.Equal(3, h.Container.Created.Count);

        // One claimant only: deleting destroys it; it never goes back to the pool.
        await h.Sandboxes.DeleteAsync(CoreHarness.Alice, entry.Id);
        Assert.True(claimed.Disposed);
        Assert.Equal(2, h.Container.Live.Count(s => !s.Disposed));
    }

    [Fact]
    public async Task A_claimant_with_the_limits_the_sandbox_was_launched_with_writes_none()
    {
        // The fake policy grants the same limits to the shape and to both requests: they are in force already.
        await using var h = await StartAsync(new PoolOptions { Shapes = [Shape()] });
        await FullAsync(h);
        var created = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted() with { Resources = new RequestedLimits(MemoryMiB: 128) }, None);
        await h.Sandboxes.RunAsync(CoreHarness.Alice, CoreHarness.Trusted(), new ProcessSpec { Argv = ["true"] }, ProcessIO.Discard, _ => Task.CompletedTask, None);

        Assert.Equal(2, h.Metrics.PoolHits);
        Assert.Empty(h.Container.Ran);
        var claimed = h.Container.Live.Where(l => l.Info.Id == created.Id || l.Execs.Count > 0).ToList();
        Assert.Equal(2, claimed.Count);
        Assert.All(claimed, l => Assert.Null(l.UpdatedLimits));
        Assert.Equal(256, created.Info!.Limits.MemoryMiB);
    }

    [Fact]
    public async Task Run_claims_a_waiting_sandbox_runs_its_process_there_with_the_environment_and_destroys_it()
    {
        await using var h = await StartAsync(new PoolOptions { Shapes = [Shape()] });
        await FullAsync(h);
        SandboxService.RunStarted? started = null;
        var request = CoreHarness.Trusted() with { Env = new Dictionary<string, string> { ["A"] = "sandbox", ["B"] = "sandbox" } };
        var process = new ProcessSpec { Argv = ["true"], Env = new Dictionary<string, string> { ["B"] = "process" } };
        var status = await h.Sandboxes.RunAsync(CoreHarness.Alice, request, process, ProcessIO.Discard, s => { started = s; return Task.CompletedTask; }, None);

        Assert.Equal(0, status.ExitCode);
        Assert.Empty(h.Container.Ran);
        var used = h.Container.Live.Single(s => s.Execs.Count > 0);
        Assert.Equal(started!.Id, used.Info.Id);
        var exec = Assert.Single(used.Execs);
        Assert.Equal("sandbox", exec.Env["A"]);
        Assert.Equal("process", exec.Env["B"]);
        Assert.Equal(TimeSpan.FromSeconds(60), exec.Timeout);
        await h.Core.Pools.WaitUntilAsync(p => p.Retiring == 0, None);
        Assert.True(used.Disposed);
    }

    [Fact]
    public async Task A_request_of_another_shape_misses_and_launches_afresh()
    {
        await using var h = await StartAsync(new PoolOptions { Shapes = [Shape()] });
        await FullAsync(h);
        // Another seccomp profile, another hostname, a long-lived sandbox with an environment: fixed at launch.
        await h.Sandboxes.RunAsync(CoreHarness.Alice, CoreHarness.Trusted() with { Hostname = "other" }, new ProcessSpec { Argv = ["true"] },
            ProcessIO.Discard, _ => Task.CompletedTask, None);
        var withEnv = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted() with { Env = new Dictionary<string, string> { ["X"] = "1" } }, None);
        Assert.Single(h.Container.Ran);
        Assert.Equal(withEnv.Id, h.Container.Created[^1].Id);
        Assert.Equal(2, h.Metrics.PoolMisses);
        Assert.Equal(0, h.Metrics.PoolHits);
        Assert.Equal(2, h.Core.Pools.Sizes["default"]);
    }

    [Fact]
    public async Task What_requests_take_is_replaced_at_once_while_other_requests_launch_their_own()
    {
        // Refill ahead of demand would wait for the launch held open below (an hour: the test would hang); a claim's
        // replacement is demand and does not wait, so a steady load keeps finding warm sandboxes.
        await using var h = await StartAsync(new PoolOptions { Shapes = [Shape(size: 2)], YieldLimit = TimeSpan.FromHours(1) });
        await FullAsync(h);
        using (h.Core.Pools.Activity.Enter())
        {
            var first = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), None);
            var second = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), None);
            await FullAsync(h);
            var third = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), None);
            Assert.Equal(3, h.Metrics.PoolHits);
            Assert.Equal(0, h.Metrics.PoolMisses);
            await FullAsync(h);
            Assert.Equal(5, h.Container.Created.Count);
            Assert.Equal(3, new[] { first.Id, second.Id, third.Id }.Distinct().Count());
        }
    }

    [Theory]
    [InlineData(SandboxTier.MicroVm)]
    [InlineData(SandboxTier.Container)]
    public async Task A_microvm_pools_refill_waits_for_the_claimants_run_a_container_pools_does_not(SandboxTier tier)
    {
        // A microVM's refill (restore and warm-up exec) would compete with the claimant's exec for the host's CPUs: it
        // starts when the run ends (the yield limit, an hour here, bounds the wait). A container's starts at once.
        await using var h = await StartAsync(new PoolOptions { Shapes = [Shape(size: 1, tier: tier)], YieldLimit = TimeSpan.FromHours(1) },
            decide: _ => FakePolicy.Allow(tier == SandboxTier.MicroVm ? IsolationTiers.MicroVm : IsolationTiers.Container));
        await FullAsync(h, size: 1);
        var driver = tier == SandboxTier.MicroVm ? h.MicroVm : h.Container;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        driver.HoldExecs = release.Task;
        // The pool's one sandbox was created before the hold: the claimant's exec is not held. Replace it first.
        await h.Sandboxes.RunAsync(CoreHarness.Alice, CoreHarness.Trusted(), new ProcessSpec { Argv = ["true"] }, ProcessIO.Discard, _ => Task.CompletedTask, None);
        await FullAsync(h, size: 1);
        Assert.Equal(2, driver.Created.Count);

        var run = h.Sandboxes.RunAsync(CoreHarness.Alice, CoreHarness.Trusted(), new ProcessSpec { Argv = ["true"] }, ProcessIO.Discard, _ => Task.CompletedTask, None);
        if (tier == SandboxTier.MicroVm)
        {
            // The owed refill is started and parked on the running claim.
            while (h.Core.Pools.Launching == 0)
                await Task.Delay(10);
            await Task.Delay(200);
            Assert.Equal(2, driver.Created.Count);
            Assert.False(run.IsCompleted);
        }
        else
        {
            await ThreeCreatedAsync();
            Assert.False(run.IsCompleted);
        }
        release.SetResult();
        Assert.Equal(0, (await run).ExitCode);
        await ThreeCreatedAsync();
        await FullAsync(h, size: 1);
        Assert.Equal(2, h.Metrics.PoolHits);

        Task ThreeCreatedAsync() => h.Core.Pools.WaitUntilAsync(p => driver.Created.Count == 3 && p.Sizes["default"] == 1, None).WaitAsync(TimeSpan.FromMinutes(1));
    }

    [Fact]
    public async Task An_empty_pool_is_a_miss_that_never_fails_the_request()
    {
        await using var h = await StartAsync(new PoolOptions { Shapes = [Shape(size: 1)] });
        await FullAsync(h, size: 1);
        var first = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), None);
        // The refill may or may not have run yet: the second create is served either way.
        var second = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), None);
        Assert.NotEqual(first.Id, second.Id);
        Assert.Equal(SandboxState.Running, second.State);
        Assert.Equal(2, h.Metrics.PoolHits + h.Metrics.PoolMisses);
    }

    [Fact]
    public async Task A_pooled_sandbox_that_refuses_the_limits_is_destroyed_and_the_request_launches_afresh()
    {
        await using var h = await StartAsync(new PoolOptions { Shapes = [Shape(size: 1)] });
        await FullAsync(h, size: 1);
        var pooled = h.Container.Live.Single();
        pooled.Die(1, "bwrap exited");
        var entry = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), None);
        Assert.NotEqual(pooled.Info.Id, entry.Id);
        Assert.Equal(1, h.Metrics.PoolMisses);
        await h.Core.Pools.WaitUntilAsync(p => p.Retiring == 0, None);
        Assert.True(pooled.Disposed);
    }

    [Fact]
    public async Task A_tier_that_cannot_change_limits_keys_its_pool_on_every_limit()
    {
        await using var h = await StartAsync(new PoolOptions { Shapes = [Shape(tier: SandboxTier.MicroVm)] },
            decide: i => FakePolicy.Allow(IsolationTiers.MicroVm, memoryMiB: i.Requested?.Resources?.MemoryMiB ?? 256),
            before: h => h.MicroVm.Capabilities = DriverCapabilities.Attach);
        await FullAsync(h);
        var other = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted() with { Resources = new RequestedLimits(MemoryMiB: 512) }, None);
        var same = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), None);
        Assert.Equal(512, h.MicroVm.Created.Single(s => s.Id == other.Id).Limits.MemoryMiB);
        Assert.Equal(1, h.Metrics.PoolMisses);
        Assert.Equal(1, h.Metrics.PoolHits);
        Assert.Null(h.MicroVm.Live.Single(s => s.Info.Id == same.Id).UpdatedLimits);
    }

    [Fact]
    public async Task Sandboxes_past_the_pool_ttl_are_replaced()
    {
        await using var h = await StartAsync(new PoolOptions { Shapes = [Shape()], Ttl = TimeSpan.FromMinutes(10) });
        await FullAsync(h);
        var old = h.Container.Live.ToList();
        h.Clock.Advance(TimeSpan.FromMinutes(10));
        await h.Core.Pools.WaitUntilAsync(p => p.Retiring == 0 && old.All(s => s.Disposed) && p.Sizes["default"] == 2, None).WaitAsync(TimeSpan.FromMinutes(1));
        Assert.Equal(4, h.Container.Created.Count);
        Assert.Equal(2, h.Metrics.PoolReplaced);
        // A claim never gets one past its TTL either (the loop may not have looked yet).
        h.Clock.Advance(TimeSpan.FromMinutes(10));
        var entry = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), None);
        Assert.DoesNotContain(h.Container.Live.Where(s => s.Disposed), s => s.Info.Id == entry.Id);
        Assert.True(h.Container.Live.Single(s => s.Info.Id == entry.Id).Spec.Id == entry.Id);
        Assert.Equal(SandboxState.Running, entry.State);
    }

    [Fact]
    public async Task A_pooled_sandbox_is_warmed_up_before_it_waits_and_one_that_fails_to_warm_is_destroyed()
    {
        await using var h = await StartAsync(new PoolOptions { Shapes = [Shape()] });
        await FullAsync(h);
        Assert.All(h.Container.Live, s => Assert.Equal(1, s.WarmUps));
        var entry = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), None);
        Assert.Equal(1, h.Container.Live.Single(s => s.Info.Id == entry.Id).WarmUps); // never warmed again for its claimant

        await using var failing = await StartAsync(new PoolOptions { Shapes = [Shape(size: 1)] },
            before: f => f.Container.FailWarmUp = new SandboxException(SandboxErrorCode.Unavailable, "warm-up failed"));
        await failing.Core.Pools.WaitUntilAsync(_ => failing.Container.Created.Count >= 1 && failing.Container.Live.All(s => s.Disposed), None)
            .WaitAsync(TimeSpan.FromMinutes(1));
        Assert.DoesNotContain(failing.Core.Pools.Sizes, p => p.Value > 0);
        Assert.All(failing.Container.Live, s => Assert.True(s.Disposed));
    }

    [Fact]
    public async Task Shutdown_destroys_every_waiting_sandbox_and_refills_no_more()
    {
        var h = await StartAsync(new PoolOptions { Shapes = [Shape(size: 3)] });
        await FullAsync(h, size: 3);
        await h.DisposeAsync();
        Assert.All(h.Container.Live, s => Assert.True(s.Disposed));
        Assert.Equal(3, h.Container.Created.Count);
        Assert.Equal(0, h.Core.Pools.Retiring);
    }

    [Fact]
    public async Task Pooled_sandboxes_have_no_state_record_and_die_with_a_cli_owner()
    {
        var stateDir = Directory.CreateTempSubdirectory("pool-state").FullName;
        try
        {
            var h = new CoreHarness(options: new SandboxCoreOptions { StateDirectory = stateDir, Pools = new PoolOptions { Shapes = [Shape()] } });
            await using (h)
            {
                await h.Core.StartPoolsAsync(None);
                await FullAsync(h);
                Assert.Empty(h.Core.Store.LoadAll().Records);
                // Without SandboxesOutliveOwner (a CLI), pooled sandboxes die with their owner like the rest.
                Assert.All(h.Container.Created, s => Assert.True(s.DieWithOwner));
                Assert.All(h.Container.Created, s => Assert.Empty(s.Env));
                var entry = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), None);
                Assert.Equal([entry.Id.Value], h.Core.Store.LoadAll().Records.Select(r => r.Id));
            }
        }
        finally
        {
            Directory.Delete(stateDir, recursive: true);
        }
    }

    [Fact]
    public async Task A_shape_the_policy_puts_on_another_tier_is_left_off_with_the_reason()
    {
        await using var h = await StartAsync(new PoolOptions { Shapes = [Shape()] }, decide: _ => FakePolicy.Allow(IsolationTiers.MicroVm));
        Assert.Empty(h.Core.Pools.Sizes);
        Assert.Contains(h.Logs.Entries, e => e.Id.Id == 1102 && e.Message.Contains("microvm tier, not container", StringComparison.Ordinal));
        Assert.Empty(h.Container.Created);
    }

    [Fact]
    public async Task A_kvm_only_shape_stays_off_under_tcg()
    {
        await using var h = await StartAsync(new PoolOptions { Shapes = [Shape(tier: SandboxTier.MicroVm) with { KvmOnly = true }] },
            decide: _ => FakePolicy.Allow(IsolationTiers.MicroVm));
        Assert.Empty(h.Core.Pools.Sizes);
        Assert.Contains(h.Logs.Entries, e => e.Id.Id == 1102 && e.Message.Contains("KVM", StringComparison.Ordinal));
    }
}
