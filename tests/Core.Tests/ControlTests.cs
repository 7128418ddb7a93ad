using Sandbox.Isolation;

namespace Sandbox.Core.Tests;

/// <summary>Pause, resume, limit updates and death: the state machine and the driver's capability flags decide.</summary>
public class ControlTests
{
    [Fact]
    public async Task Pause_and_resume_move_through_the_states_and_publish()
    {
        await using var h = new CoreHarness();
        var entry = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), CancellationToken.None);
        await h.Sandboxes.PauseAsync(CoreHarness.Alice, entry.Id, CancellationToken.None);
        Assert.Equal(SandboxState.Paused, entry.State);
        Assert.True(h.Container.Live.Single().Frozen);
        var exec = await Assert.ThrowsAsync<SandboxStateException>(() =>
            h.Sandboxes.ExecAsync(CoreHarness.Alice, entry.Id, new ProcessSpec { Argv = ["x"] }, ProcessIO.Discard, CancellationToken.None));
        Assert.Contains("resume it first", exec.Message, StringComparison.Ordinal);
        var again = await Assert.ThrowsAsync<SandboxStateException>(() => h.Sandboxes.PauseAsync(CoreHarness.Alice, entry.Id, CancellationToken.None));
        Assert.Equal(SandboxState.Paused, again.State);
        await h.Sandboxes.ResumeAsync(CoreHarness.Alice, entry.Id, CancellationToken.None);
        Assert.Equal(SandboxState.Running, entry.State);
        Assert.False(h.Container.Live.Single().Frozen);
        var events = await h.DrainEventsAsync();
        Assert.Equal([SandboxEventKind.Created, SandboxEventKind.Started, SandboxEventKind.Paused, SandboxEventKind.Resumed], events.Select(e => e.Kind));
    }

    [Fact]
    public async Task A_driver_without_the_capability_answers_unimplemented()
    {
        await using var h = new CoreHarness();
        h.Container.Capabilities = DriverCapabilities.None;
        var entry = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), CancellationToken.None);
        var pause = await Assert.ThrowsAsync<SandboxException>(() => h.Sandboxes.PauseAsync(CoreHarness.Alice, entry.Id, CancellationToken.None));
        Assert.Equal(SandboxErrorCode.Unimplemented, pause.Code);
        Assert.Contains("Pause", pause.Message, StringComparison.Ordinal);
        var update = await Assert.ThrowsAsync<SandboxException>(() =>
            h.Sandboxes.UpdateLimitsAsync(CoreHarness.Alice, entry.Id, new Isolation.ResourceLimits { MemoryMiB = 100 }, CancellationToken.None));
        Assert.Equal(SandboxErrorCode.Unimplemented, update.Code);
        Assert.Equal(SandboxState.Running, entry.State);
        // Without Attach, even a daemon's sandbox dies with its owner (it could not be taken back).
        Assert.True(h.Container.Created.Single().DieWithOwner);
    }

    [Fact]
    public async Task Limits_change_only_within_what_the_policy_granted()
    {
        await using var h = new CoreHarness();
        var entry = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), CancellationToken.None);
        var lower = new Isolation.ResourceLimits { MemoryMiB = 128, Cpus = 1, PidsMax = 32, WallTime = TimeSpan.FromSeconds(30) };
        await h.Sandboxes.UpdateLimitsAsync(CoreHarness.Alice, entry.Id, lower, CancellationToken.None);
        Assert.Equal(lower, h.Container.Live.Single().UpdatedLimits);
        Assert.Equal(lower, entry.Info!.Limits);
        var e = await Assert.ThrowsAsync<SandboxException>(() => h.Sandboxes.UpdateLimitsAsync(CoreHarness.Alice, entry.Id,
            lower with { MemoryMiB = 100_000, PidsMax = 100_000 }, CancellationToken.None));
        Assert.Equal(SandboxErrorCode.InvalidArgument, e.Code);
        Assert.Contains("memory 100000 MiB is above the granted 256 MiB", e.Message, StringComparison.Ordinal);
        Assert.Contains("pids 100000 is above the granted 64", e.Message, StringComparison.Ordinal);
        Assert.Equal(lower, h.Container.Live.Single().UpdatedLimits);
    }

    [Fact]
    public async Task A_sandbox_that_dies_on_its_own_is_exited_and_can_only_be_deleted()
    {
        await using var h = new CoreHarness();
        using var events = h.Core.Events.Subscribe();
        var entry = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), CancellationToken.None);
        h.Container.Live.Single().Die(137, "bwrap exited: killed by signal 9");
        SandboxEvent e;
        do
            e = await events.Reader.ReadAsync();
        while (e.Kind != SandboxEventKind.Exited);
        Assert.Equal(SandboxState.Exited, entry.State);
        Assert.Equal(137, e.Status!.ExitCode);
        Assert.Equal(9, e.Status.Signal);
        Assert.Equal("bwrap exited: killed by signal 9", entry.StateDetail);
        var exec = await Assert.ThrowsAsync<SandboxStateException>(() =>
            h.Sandboxes.ExecAsync(CoreHarness.Alice, entry.Id, new ProcessSpec { Argv = ["x"] }, ProcessIO.Discard, CancellationToken.None));
        Assert.Equal(SandboxState.Exited, exec.State);
        await h.Sandboxes.DeleteAsync(CoreHarness.Alice, entry.Id);
        Assert.Equal(SandboxState.Deleted, entry.State);
    }

    [Fact]
    public async Task A_deleted_sandbox_is_not_reported_as_exited()
    {
        await using var h = new CoreHarness();
        var entry = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), CancellationToken.None);
        await h.Sandboxes.DeleteAsync(CoreHarness.Alice, entry.Id);
        var events = await h.DrainEventsAsync();
        Assert.DoesNotContain(events, x => x.Kind == SandboxEventKind.Exited);
        Assert.Equal("deleted", entry.StateDetail);
    }
}
