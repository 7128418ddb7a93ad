using Microsoft.Extensions.Time.Testing;
using Sandbox.Isolation;
using Sandbox.Policy;

namespace Sandbox.Core.Tests;

/// <summary>Core over fake drivers of both tiers, a fake clock and a log scope; records the events it publishes.</summary>
internal sealed class CoreHarness : IAsyncDisposable
{
    public static readonly Principal Alice = new("acme", "uid:1000");
    public static readonly Principal Mallory = new("other", "uid:2000");

    private readonly SandboxEvents.Subscription _events;

    public CoreHarness(IPolicyEngine? policy = null, SandboxCoreOptions? options = null, bool withMicroVm = true, string? stateDir = null)
    {
        Policy = policy as FakePolicy ?? (policy is null ? new FakePolicy(_ => FakePolicy.Allow()) : null);
        IReadOnlyList<ISandboxDriver> drivers = withMicroVm ? [Container, MicroVm] : [Container];
        Core = SandboxCore.Create(options ?? new SandboxCoreOptions { StateDirectory = stateDir }, policy ?? Policy!, drivers, Logs, Clock, Metrics);
        _events = Core.Events.Subscribe(capacity: 4096);
    }

    public FakeDriver Container { get; } = new(SandboxTier.Container);
    public FakeDriver MicroVm { get; } = new(SandboxTier.MicroVm);
    public FakePolicy? Policy { get; }
    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    public LogScope Logs { get; } = new();
    public RecordingMetrics Metrics { get; } = new();
    public SandboxCore Core { get; }
    public SandboxService Sandboxes => Core.Sandboxes;

    /// <summary>A request that vouches for its code (the fake policy ignores it; the real one sends it to a container).</summary>
    public static SandboxRequest Trusted(TimeSpan? ttl = null) => new() { Untrusted = false, CodeProvenance = "tenant", Ttl = ttl };

    /// <summary>Every event published so far (the stream is ended first, so none is still in flight).</summary>
    public async Task<IReadOnlyList<SandboxEvent>> DrainEventsAsync()
    {
        await Core.DisposeAsync();
        var all = new List<SandboxEvent>();
        await foreach (var e in _events.Reader.ReadAllAsync())
            all.Add(e);
        return all;
    }

    public async ValueTask DisposeAsync()
    {
        await Core.DisposeAsync();
        _events.Dispose();
        Logs.Dispose();
    }
}

internal sealed class RecordingMetrics : ISandboxMetrics
{
    public int Creates;
    public int Allowed;
    public int Denied;
    public int Reaped;
    public List<(string Kind, bool Oom)> Processes { get; } = [];
    public (int Reclaimed, int Reattached) Recovery;

    public void CreateCompleted(TimeSpan elapsed) => Interlocked.Increment(ref Creates);
    public void ProcessCompleted(string kind, TimeSpan elapsed, bool oomKilled, bool timedOut)
    {
        lock (Processes)
            Processes.Add((kind, oomKilled));
    }
    public void PolicyDecided(bool allow) => Interlocked.Increment(ref allow ? ref Allowed : ref Denied);
    void ISandboxMetrics.Reaped() => Interlocked.Increment(ref Reaped);
    public void Recovered(int reclaimed, int reattached) => Recovery = (reclaimed, reattached);

    public int PoolHits;
    public int PoolMisses;
    public int PoolRefills;
    public int PoolReplaced;
    public void PoolClaimed(string pool, bool hit) => Interlocked.Increment(ref hit ? ref PoolHits : ref PoolMisses);
    public void PoolRefilled(string pool, TimeSpan elapsed) => Interlocked.Increment(ref PoolRefills);
    void ISandboxMetrics.PoolReplaced(string pool) => Interlocked.Increment(ref PoolReplaced);
}
