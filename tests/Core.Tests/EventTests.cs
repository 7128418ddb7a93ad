namespace Sandbox.Core.Tests;

/// <summary>The event channel: every subscriber sees every event after it subscribed, in publication order; a
/// subscriber that does not read loses its oldest events and never holds the publisher up.</summary>
public class EventTests
{
    private static SandboxEvent Event(int n) =>
        new(SandboxEventKind.Created, Isolation.SandboxId.Parse($"sb-{n}"), "acme", Isolation.SandboxTier.Container, DateTimeOffset.UnixEpoch);

    [Fact]
    public async Task Every_subscriber_sees_every_event_in_order()
    {
        var events = new SandboxEvents();
        using var a = events.Subscribe(capacity: 1000);
        using var b = events.Subscribe(capacity: 1000);
        for (var i = 0; i < 500; i++)
            await events.PublishAsync(Event(i));
        await events.DisposeAsync();
        foreach (var s in new[] { a, b })
        {
            var seen = new List<string>();
            await foreach (var e in s.Reader.ReadAllAsync())
                seen.Add(e.Id.Value);
            Assert.Equal(Enumerable.Range(0, 500).Select(i => $"sb-{i}"), seen);
            Assert.Equal(0, s.Dropped);
        }
    }

    [Fact]
    public async Task A_subscriber_that_does_not_read_loses_its_oldest_events_only()
    {
        var events = new SandboxEvents();
        using var slow = events.Subscribe(capacity: 10);
        using var fast = events.Subscribe(capacity: 5000);
        for (var i = 0; i < 3000; i++)
            await events.PublishAsync(Event(i));
        await events.DisposeAsync();
        var kept = new List<string>();
        await foreach (var e in slow.Reader.ReadAllAsync())
            kept.Add(e.Id.Value);
        Assert.Equal(Enumerable.Range(2990, 10).Select(i => $"sb-{i}"), kept);
        Assert.Equal(2990, slow.Dropped);
        var all = 0;
        await foreach (var _ in fast.Reader.ReadAllAsync())
            all++;
        Assert.Equal(3000, all);
    }

    [Fact]
    public async Task An_unsubscribed_reader_ends_and_receives_nothing_more()
    {
        var events = new SandboxEvents();
        var s = events.Subscribe();
        s.Dispose();
        await events.PublishAsync(Event(1));
        await events.DisposeAsync();
        Assert.False(await s.Reader.WaitToReadAsync());
    }
}
