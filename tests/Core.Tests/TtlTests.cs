using Microsoft.Extensions.Logging;

namespace Sandbox.Core.Tests;

/// <summary>TTL expiry on a fake clock: nothing sleeps, nothing races the wall clock.</summary>
public class TtlTests
{
    [Fact]
    public async Task A_sandbox_is_reaped_once_its_ttl_has_passed_and_not_before()
    {
        await using var h = new CoreHarness();
        var shortLived = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(TimeSpan.FromSeconds(60)), CancellationToken.None);
        var defaulted = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(), CancellationToken.None);
        Assert.Equal(h.Clock.GetUtcNow() + TimeSpan.FromHours(1), defaulted.ExpiresAt);

        h.Clock.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(0, await h.Core.Reaper.ReapOnceAsync());
        h.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, await h.Core.Reaper.ReapOnceAsync());
        Assert.Equal(SandboxState.Deleted, shortLived.State);
        Assert.Equal("expired", shortLived.StateDetail);
        Assert.Equal([defaulted.Id], h.Sandboxes.List(CoreHarness.Alice).Select(e => e.Id));
        Assert.Equal(1, h.Metrics.Reaped);
        Assert.Contains(h.Logs.Entries, e => e.Id.Id == 1007 && e.Level == LogLevel.Information);
    }

    [Fact]
    public async Task The_reaper_runs_on_its_clock()
    {
        await using var h = new CoreHarness(options: new SandboxCoreOptions { ReapInterval = TimeSpan.FromSeconds(5) });
        using var deleted = h.Core.Events.Subscribe();
        var entry = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(TimeSpan.FromSeconds(30)), CancellationToken.None);
        using var stop = new CancellationTokenSource();
        var reaper = h.Core.Reaper.RunAsync(stop.Token);
        h.Clock.Advance(TimeSpan.FromSeconds(31));
        // The timer fires on the advance; the deletion is observed through the event stream, not by waiting.
        SandboxEvent e;
        do
            e = await deleted.Reader.ReadAsync(CancellationToken.None);
        while (e.Kind != SandboxEventKind.Deleted);
        Assert.Equal(entry.Id, e.Id);
        Assert.Equal("expired", e.Detail);
        await stop.CancelAsync();
        await reaper;
    }

    [Fact]
    public async Task A_reaper_failure_is_logged_as_an_error_and_the_log_scope_sees_it()
    {
        var h = new CoreHarness();
        var entry = await h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted(TimeSpan.FromSeconds(1)), CancellationToken.None);
        h.Container.Live.Single().ThrowOnDispose = new IOException("disk gone");
        h.Clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(0, await h.Core.Reaper.ReapOnceAsync());
        Assert.Equal(SandboxState.Deleted, entry.State);
        // Undeclared, the error fails the test; declared, it is part of it.
        var e = Assert.Throws<Xunit.Sdk.TrueException>(() => h.Logs.Dispose());
        Assert.Contains("1008", e.Message, StringComparison.Ordinal);
        h.Logs.Expect(1008);
        await h.DisposeAsync();
    }
}
