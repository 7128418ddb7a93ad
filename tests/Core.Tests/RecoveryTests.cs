using Sandbox.Isolation;

namespace Sandbox.Core.Tests;

/// <summary>Restart recovery and start-up probing against fake drivers: records that cannot be re-attached are
/// reclaimed and deleted, leftovers without a record are reclaimed, and the policy sees the probed accelerator.</summary>
public sealed class RecoveryTests : IDisposable
{
    private readonly string _stateDir = Directory.CreateTempSubdirectory("core-tests-").FullName;

    public void Dispose() => Directory.Delete(_stateDir, recursive: true);

    [Fact]
    public async Task Records_that_cannot_be_reattached_and_orphans_are_reclaimed()
    {
        SandboxId vmId;
        await using (var before = new CoreHarness(new FakePolicy(_ => FakePolicy.Allow(Policy.IsolationTiers.MicroVm)), stateDir: _stateDir))
        {
            vmId = (await before.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), CancellationToken.None)).Id;
        }
        File.WriteAllText(Path.Combine(_stateDir, "sandboxes", "sb-garbage.json"), "{ not json");
        await using var after = new CoreHarness(stateDir: _stateDir);
        after.MicroVm.Leftovers.Add(vmId);
        var orphan = SandboxId.New();
        after.Container.Leftovers.Add(orphan);

        var (reattached, reclaimed) = await after.Core.Recovery.RecoverAsync(CancellationToken.None);

        Assert.Equal(0, reattached);
        Assert.Equal(2, reclaimed);
        Assert.Contains(vmId, after.MicroVm.Reclaimed);
        Assert.Contains(orphan, after.Container.Reclaimed);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(_stateDir, "sandboxes")));
        Assert.Equal((2, 0), after.Metrics.Recovery);
        Assert.Contains(after.Logs.Entries, e => e.Id.Id == 1005);
        Assert.Contains(after.Logs.Entries, e => e.Id.Id == 1004 && e.Message.Contains(vmId.Value, StringComparison.Ordinal));
        Assert.Empty(after.Sandboxes.List(CoreHarness.Alice));
    }

    [Fact]
    public async Task A_record_is_written_while_the_sandbox_lives_and_removed_with_it()
    {
        await using var h = new CoreHarness(stateDir: _stateDir);
        var entry = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted() with { Labels = new Dictionary<string, string> { ["app"] = "x" } },
            CancellationToken.None);
        var (records, bad) = h.Core.Store.LoadAll();
        Assert.Empty(bad);
        var record = Assert.Single(records);
        Assert.Equal(entry.Id.Value, record.Id);
        Assert.Equal("acme", record.Tenant);
        Assert.Equal("x", record.Labels["app"]);
        Assert.Equal(entry.Decision.DecisionId, record.Decision!.DecisionId);
        Assert.Equal(entry.Decision.Resources, record.Decision.Resources);
        Assert.Equal(entry.Decision.Reasons, record.Decision.Reasons);
        await h.Sandboxes.DeleteAsync(CoreHarness.Alice, entry.Id);
        Assert.Empty(h.Core.Store.LoadAll().Records);
    }

    [Fact]
    public async Task A_running_sandbox_is_taken_back_through_its_opaque_attachment_and_a_dead_one_is_reclaimed()
    {
        SandboxId alive, dead;
        var options = new SandboxCoreOptions { StateDirectory = _stateDir, SandboxesOutliveOwner = true };
        await using (var before = new CoreHarness(options: options))
        {
            alive = (await before.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(TimeSpan.FromMinutes(5)), CancellationToken.None)).Id;
            dead = (await before.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), CancellationToken.None)).Id;
            // The owner "crashes": nothing is deleted, the records stay.
        }
        await using var after = new CoreHarness(options: options);
        after.Container.Attachable.Add(alive);
        after.Container.Leftovers.Add(dead);
        var (reattached, reclaimed) = await after.Core.Recovery.RecoverAsync(CancellationToken.None);
        Assert.Equal((1, 1), (reattached, reclaimed));
        var entry = after.Sandboxes.Get(CoreHarness.Alice, alive);
        Assert.Equal(SandboxState.Running, entry.State);
        Assert.Equal(after.Clock.GetUtcNow() + TimeSpan.FromMinutes(5), entry.ExpiresAt);
        Assert.Equal((1, entry.Info!.Limits.MemoryMiB), after.Core.Quotas.Used("acme"));
        Assert.Contains(dead, after.Container.Reclaimed);
        Assert.Throws<SandboxException>(() => after.Sandboxes.Get(CoreHarness.Alice, dead));
        Assert.Equal([alive.Value], after.Core.Store.LoadAll().Records.Select(r => r.Id));
        await after.Sandboxes.ExecAsync(CoreHarness.Alice, alive, new ProcessSpec { Argv = ["true"] }, ProcessIO.Discard, CancellationToken.None);
    }

    [Fact]
    public async Task The_policy_sees_the_accelerator_the_background_probe_found()
    {
        // A microVM driver whose probe boots a guest under KVM: a create waits for it rather than telling the policy "none".
        var probe = new TaskCompletionSource<DriverAvailability>();
        var vm = new FakeDriver(SandboxTier.MicroVm, probe: probe.Task);
        var policy = new FakePolicy(_ => FakePolicy.Allow());
        using var logs = new LogScope();
        await using var core = SandboxCore.Create(new SandboxCoreOptions(), policy, [new FakeDriver(SandboxTier.Container), vm], logs);
        var create = core.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), CancellationToken.None);
        Assert.False(create.IsCompleted);
        Assert.Empty(policy.Inputs);
        probe.SetResult(new DriverAvailability(true, "kvm works", Accelerator.Kvm));
        await create;
        Assert.Equal("kvm", policy.Inputs.Single().Environment.Accel);
        Assert.Equal(["container", "microvm"], policy.Inputs.Single().Environment.Tiers);
    }

    [Fact]
    public async Task A_failed_probe_makes_the_tier_unavailable_with_the_reason()
    {
        var vm = new FakeDriver(SandboxTier.MicroVm, probe: Task.FromException<DriverAvailability>(new SandboxException(SandboxErrorCode.Internal, "probe boot failed")));
        using var logs = new LogScope();
        var registry = new DriverRegistry([vm, new FakeDriver(SandboxTier.Container)], new Microsoft.Extensions.Logging.Logger<DriverRegistry>(logs));
        var probed = await registry.ProbedAsync(CancellationToken.None);
        Assert.Equal(Accelerator.None, probed.Accelerator);
        Assert.Equal([SandboxTier.Container], probed.AvailableTiers);
        var e = Assert.Throws<TierUnavailableException>(() => probed.Get(SandboxTier.MicroVm));
        Assert.Equal(SandboxErrorCode.Unavailable, e.Code);
        Assert.Contains("probe boot failed", e.Message, StringComparison.Ordinal);
        Assert.Contains(logs.Entries, x => x.Id.Id == 1010);
    }
}
