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
    public async Task The_policy_sees_the_accelerator_the_background_probe_found()
    {
        // A microVM driver whose quick probe cannot tell (a host with /dev/kvm and vmx): the probe boot decides, and
        // a create waits for it rather than telling the policy "none".
        var probe = new TaskCompletionSource<Accelerator>();
        var vm = new FakeDriver(SandboxTier.MicroVm, new DriverAvailability(true, "fake, accelerator unknown"));
        var policy = new FakePolicy(_ => FakePolicy.Allow());
        using var logs = new LogScope();
        await using var core = SandboxCore.Create(new SandboxCoreOptions(), policy, [new FakeDriver(SandboxTier.Container), vm], logs,
            acceleratorProbe: _ => probe.Task);
        var create = core.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), CancellationToken.None);
        Assert.False(create.IsCompleted);
        Assert.Empty(policy.Inputs);
        probe.SetResult(Accelerator.Kvm);
        await create;
        Assert.Equal("kvm", policy.Inputs.Single().Environment.Accel);
        // Without a microVM tier there is nothing to probe.
        Assert.Equal(Accelerator.None, await new DriverRegistry([new FakeDriver(SandboxTier.Container)], _ => throw new InvalidOperationException("not called"))
            .AcceleratorAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_failed_probe_counts_as_tcg_never_as_kvm()
    {
        var vm = new FakeDriver(SandboxTier.MicroVm, new DriverAvailability(true, "fake, accelerator unknown"));
        using var logs = new LogScope();
        var registry = new DriverRegistry([vm], _ => throw new SandboxException(SandboxErrorCode.Internal, "probe boot failed"),
            new Microsoft.Extensions.Logging.Logger<DriverRegistry>(logs));
        Assert.Equal(Accelerator.Tcg, await registry.AcceleratorAsync(CancellationToken.None));
        Assert.Contains(logs.Entries, e => e.Id.Id == 1010 && e.Message.Contains("probe boot failed", StringComparison.Ordinal));
    }
}
