namespace Sandbox.Core;

/// <summary>The measurements Core reports; a face renders them (sandboxd: Prometheus). Lifecycle counts (created,
/// deleted, OOM) are on the event stream instead.</summary>
public interface ISandboxMetrics
{
    /// <summary>A long-lived sandbox is running: policy + launch took <paramref name="elapsed"/>.</summary>
    void CreateCompleted(TimeSpan elapsed);

    /// <summary>One finished process; <paramref name="kind"/> is "exec" or "run".</summary>
    void ProcessCompleted(string kind, TimeSpan elapsed, bool oomKilled, bool timedOut);

    void PolicyDecided(bool allow);

    /// <summary>A sandbox was deleted because its TTL passed.</summary>
    void Reaped();

    /// <summary>At startup: sandboxes found left over and cleaned up, and those taken back.</summary>
    void Recovered(int reclaimed, int reattached);

    // Warm pools (src/Core/Pools). Default bodies: a face that renders no pool metrics needs no change.

    /// <summary>A request looked for a pooled sandbox: <paramref name="hit"/> when it got one; <paramref name="pool"/>
    /// is "" when no pool has its shape.</summary>
    void PoolClaimed(string pool, bool hit) { }

    /// <summary>A pool gained a sandbox; creating it took <paramref name="elapsed"/>.</summary>
    void PoolRefilled(string pool, TimeSpan elapsed) { }

    /// <summary>Sandboxes now waiting in a pool.</summary>
    void PoolSize(string pool, int ready) { }

    /// <summary>A waiting sandbox was destroyed unused: past its TTL, or found dead.</summary>
    void PoolReplaced(string pool) { }
}

/// <summary>Measures nothing (a CLI run).</summary>
public sealed class NoMetrics : ISandboxMetrics
{
    public static NoMetrics Instance { get; } = new();

    public void CreateCompleted(TimeSpan elapsed) { }
    public void ProcessCompleted(string kind, TimeSpan elapsed, bool oomKilled, bool timedOut) { }
    public void PolicyDecided(bool allow) { }
    public void Reaped() { }
    public void Recovered(int reclaimed, int reattached) { }
}
