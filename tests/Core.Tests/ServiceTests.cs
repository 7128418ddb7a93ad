using Sandbox.Isolation;
using Sandbox.Policy;

namespace Sandbox.Core.Tests;

/// <summary>The verbs against the fake driver: what reaches the driver, quotas, error mapping, event order.</summary>
public class ServiceTests
{
    [Fact]
    public async Task Create_then_delete_publishes_created_started_deleted_in_order()
    {
        await using var h = new CoreHarness();
        var entry = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), CancellationToken.None);
        Assert.Equal(SandboxState.Running, entry.State);
        await h.Sandboxes.DeleteAsync(CoreHarness.Alice, entry.Id);
        Assert.Equal(SandboxState.Deleted, entry.State);
        Assert.True(h.Container.Live.Single().Disposed);
        var events = await h.DrainEventsAsync();
        Assert.Equal([SandboxEventKind.Created, SandboxEventKind.Started, SandboxEventKind.Deleted], events.Select(e => e.Kind));
        Assert.All(events, e => Assert.Equal(entry.Id, e.Id));
        Assert.Equal("deleted", events[^1].Detail);
    }

    [Fact]
    public async Task A_one_shot_run_publishes_oom_then_exited_then_deleted()
    {
        await using var h = new CoreHarness();
        h.Container.Status = new ExitStatus { ExitCode = 137, Signal = 9, OomKilled = true };
        SandboxService.RunStarted? started = null;
        var status = await h.Sandboxes.RunAsync(CoreHarness.Alice, CoreHarness.Trusted(), new ProcessSpec { Argv = ["x"] }, ProcessIO.Discard,
            s => { started = s; return Task.CompletedTask; }, CancellationToken.None);
        Assert.True(status.OomKilled);
        Assert.Equal(h.Container.Ran.Single().Id, started!.Id);
        Assert.Equal(h.Container.Ran.Single().Limits, started.Limits);
        var events = await h.DrainEventsAsync();
        Assert.Equal([SandboxEventKind.Created, SandboxEventKind.Started, SandboxEventKind.Oom, SandboxEventKind.Exited, SandboxEventKind.Deleted],
            events.Select(e => e.Kind));
        Assert.Same(status, events[3].Status);
        Assert.Equal([("run", true)], h.Metrics.Processes);
        Assert.Equal((0, 0), h.Core.Quotas.Used("acme"));
    }

    [Fact]
    public async Task A_failed_launch_leaves_nothing_and_says_why()
    {
        await using var h = new CoreHarness();
        h.Container.Fail = new SandboxException(SandboxErrorCode.Internal, "bwrap said no");
        var e = await Assert.ThrowsAsync<SandboxException>(() => h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), CancellationToken.None));
        Assert.Equal("bwrap said no", e.Message);
        Assert.Empty(h.Sandboxes.List(CoreHarness.Alice));
        Assert.Equal((0, 0), h.Core.Quotas.Used("acme"));
        var events = await h.DrainEventsAsync();
        Assert.Equal([SandboxEventKind.Created, SandboxEventKind.Deleted], events.Select(x => x.Kind));
        Assert.Contains("bwrap said no", events[1].Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_decision_field_reaches_the_driver_including_require_hardware_virtualization()
    {
        await using var h = new CoreHarness(new FakePolicy(_ => FakePolicy.Allow(IsolationTiers.MicroVm, memoryMiB: 300, requireKvm: true)
            with { SyscallProfile = new SyscallProfileRef("strict", ["ptrace"]) }));
        await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), CancellationToken.None);
        var spec = Assert.Single(h.MicroVm.Created);
        Assert.True(spec.RequireHardwareVirtualization);
        Assert.Equal("strict", spec.SyscallProfile);
        Assert.Equal(["ptrace"], spec.ExtraSyscalls);
        Assert.Equal(300, spec.Limits.MemoryMiB);
        Assert.Empty(h.Container.Created);
    }

    [Fact]
    public async Task Long_lived_sandboxes_outlive_their_owner_only_when_Core_is_told_so()
    {
        await using var daemon = new CoreHarness(options: new SandboxCoreOptions { SandboxesOutliveOwner = true });
        await daemon.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), CancellationToken.None);
        Assert.False(daemon.Container.Created.Single().DieWithOwner);
        await using var cli = new CoreHarness();
        await cli.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), CancellationToken.None);
        Assert.True(cli.Container.Created.Single().DieWithOwner);
    }

    [Fact]
    public async Task Quotas_count_sandboxes_and_memory_and_are_given_back()
    {
        var options = new SandboxCoreOptions { Quotas = new Dictionary<string, TenantQuota> { ["acme"] = new(MaxSandboxes: 2, MaxMemoryMiB: 600) } };
        await using var h = new CoreHarness(options: options);
        var a = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), CancellationToken.None);
        await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), CancellationToken.None);
        Assert.Equal((2, 512L), h.Core.Quotas.Used("acme"));
        var count = await Assert.ThrowsAsync<SandboxException>(() => h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), CancellationToken.None));
        Assert.Equal(SandboxErrorCode.ResourceExhausted, count.Code);
        Assert.Contains("max_sandboxes is 2", count.Message, StringComparison.Ordinal);
        // Another tenant has its own (default) quota.
        await h.Sandboxes.CreateAsync(CoreHarness.Mallory, CoreHarness.Trusted(), CancellationToken.None);
        await h.Sandboxes.DeleteAsync(CoreHarness.Alice, a.Id);
        Assert.Equal((1, 256L), h.Core.Quotas.Used("acme"));
        // Memory: 256 used, 600 allowed, a 400 MiB sandbox would pass it.
        await using var big = new CoreHarness(new FakePolicy(_ => FakePolicy.Allow(memoryMiB: 400)), options);
        await big.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), CancellationToken.None);
        var memory = await Assert.ThrowsAsync<SandboxException>(() => big.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), CancellationToken.None));
        Assert.Equal(SandboxErrorCode.ResourceExhausted, memory.Code);
        Assert.Contains("max_memory_mib 600", memory.Message, StringComparison.Ordinal);
        Assert.Single(big.Sandboxes.List(CoreHarness.Alice));
    }

    [Fact]
    public async Task A_one_shot_run_holds_quota_only_while_it_runs()
    {
        var options = new SandboxCoreOptions { Quotas = new Dictionary<string, TenantQuota> { ["acme"] = new(MaxSandboxes: 1) } };
        await using var h = new CoreHarness(options: options);
        (int, long) during = default;
        await h.Sandboxes.RunAsync(CoreHarness.Alice, CoreHarness.Trusted(), new ProcessSpec { Argv = ["x"] }, ProcessIO.Discard,
            _ => { during = h.Core.Quotas.Used("acme"); return Task.CompletedTask; }, CancellationToken.None);
        Assert.Equal((1, 256L), during);
        Assert.Equal((0, 0L), h.Core.Quotas.Used("acme"));
    }

    [Fact]
    public async Task Errors_map_to_the_codes_faces_return()
    {
        await using var h = new CoreHarness(new FakePolicy(i => i.Requested.Isolation == "microvm"
            ? FakePolicy.Allow() with { Allow = false, Reasons = ["not for you"], DecisionId = "dec-no" }
            : FakePolicy.Allow()));
        var entry = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), CancellationToken.None);

        // Another tenant's sandbox is indistinguishable from a missing one.
        Assert.Equal(SandboxErrorCode.NotFound, (await Assert.ThrowsAsync<SandboxException>(() => h.Sandboxes.DeleteAsync(CoreHarness.Mallory, entry.Id))).Code);
        Assert.Equal(SandboxErrorCode.NotFound, Assert.Throws<SandboxException>(() => h.Sandboxes.Get(CoreHarness.Mallory, entry.Id)).Code);

        var denied = await Assert.ThrowsAsync<PolicyDeniedException>(() =>
            h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted() with { Tier = SandboxTier.MicroVm }, CancellationToken.None));
        Assert.Equal(SandboxErrorCode.PermissionDenied, denied.Code);
        Assert.Equal("dec-no", denied.Decision.DecisionId);
        Assert.Equal(1, h.Metrics.Denied);

        var ttl = await Assert.ThrowsAsync<SandboxException>(() =>
            h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(TimeSpan.FromDays(30)), CancellationToken.None));
        Assert.Equal(SandboxErrorCode.InvalidArgument, ttl.Code);
        Assert.Contains("ttl_s 2592000", ttl.Message, StringComparison.Ordinal);

        await h.Sandboxes.DeleteAsync(CoreHarness.Alice, entry.Id);
        Assert.Equal(SandboxErrorCode.NotFound, (await Assert.ThrowsAsync<SandboxException>(() => h.Sandboxes.DeleteAsync(CoreHarness.Alice, entry.Id))).Code);
    }

    [Fact]
    public async Task A_tier_without_a_driver_answers_unavailable()
    {
        await using var h = new CoreHarness(new FakePolicy(_ => FakePolicy.Allow(IsolationTiers.MicroVm)), withMicroVm: false);
        var e = await Assert.ThrowsAsync<TierUnavailableException>(() => h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), CancellationToken.None));
        Assert.Equal(SandboxErrorCode.Unavailable, e.Code);
        Assert.Contains("microvm tier is not available", e.Message, StringComparison.Ordinal);
        Assert.Equal(["container"], h.Policy!.Inputs.Single().Environment.Tiers);
    }

    [Theory]
    [InlineData(SandboxState.Creating)]
    [InlineData(SandboxState.Paused)]
    [InlineData(SandboxState.Exited)]
    [InlineData(SandboxState.Broken)]
    public async Task Exec_and_files_are_refused_outside_running_with_the_state_and_the_verb(SandboxState state)
    {
        await using var h = new CoreHarness();
        var entry = LifecycleTests.EntryIn(state);
        h.Core.Registry.Add(entry);
        var exec = await Assert.ThrowsAsync<SandboxStateException>(() =>
            h.Sandboxes.ExecAsync(CoreHarness.Alice, entry.Id, new ProcessSpec { Argv = ["x"] }, ProcessIO.Discard, CancellationToken.None));
        Assert.Equal(SandboxErrorCode.FailedPrecondition, exec.Code);
        Assert.Equal(state, exec.State);
        Assert.Equal("exec in", exec.Verb);
        var read = await Assert.ThrowsAsync<SandboxStateException>(() => h.Sandboxes.ReadFileAsync(CoreHarness.Alice, entry.Id, "/x", 10, CancellationToken.None));
        Assert.Equal("read files of", read.Verb);
    }

    [Fact]
    public async Task Delete_while_creating_is_refused_by_state()
    {
        await using var h = new CoreHarness();
        var entry = LifecycleTests.EntryIn(SandboxState.Creating);
        h.Core.Registry.Add(entry);
        var e = await Assert.ThrowsAsync<SandboxStateException>(() => h.Sandboxes.DeleteAsync(CoreHarness.Alice, entry.Id));
        Assert.Equal(SandboxState.Creating, e.State);
        Assert.Equal("delete", e.Verb);
    }

    [Fact]
    public async Task Exec_clamps_the_process_timeout_to_the_sandbox_limit_and_reports_oom()
    {
        await using var h = new CoreHarness();
        h.Container.Status = new ExitStatus { ExitCode = 137, Signal = 9, OomKilled = true };
        var entry = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), CancellationToken.None);
        var p = await h.Sandboxes.ExecAsync(CoreHarness.Alice, entry.Id, new ProcessSpec { Argv = ["x"], Timeout = TimeSpan.FromHours(5) },
            ProcessIO.Discard, CancellationToken.None);
        Assert.True((await p.Completion).OomKilled);
        Assert.Equal(TimeSpan.FromSeconds(60), h.Container.Live.Single().Execs.Single().Timeout);
        await Assert.ThrowsAsync<SandboxException>(() => p.SignalAsync(65, CancellationToken.None));
        var events = await h.DrainEventsAsync();
        Assert.Equal([SandboxEventKind.Created, SandboxEventKind.Started, SandboxEventKind.Oom], events.Select(e => e.Kind));
    }
}
