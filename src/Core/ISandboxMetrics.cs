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
