using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Sandbox.Core;

namespace Sandbox.SandboxApi.Metrics;

/// <summary>sandboxd's metrics in the Prometheus text format (0.0.4): what Core measures (<see cref="ISandboxMetrics"/>:
/// create and exec latency histograms, policy outcomes, OOM kills and timeouts, TTL and restart counts), lifecycle
/// events by kind (a subscriber of Core's event stream), and sandboxes by tier and state (read from the registry at
/// scrape time).</summary>
public sealed class SandboxdMetrics : ISandboxMetrics
{
    private static readonly double[] s_bounds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    private readonly Histogram _create = new();
    private readonly ConcurrentDictionary<string, Histogram> _exec = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _policy = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _events = new(StringComparer.Ordinal);
    private long _oomKills;
    private long _timeouts;
    private long _reaped;
    private long _reclaimed;
    private long _reattached;
    private readonly ConcurrentDictionary<(string Pool, string Outcome), long> _poolClaims = new();
    private readonly ConcurrentDictionary<string, int> _poolSizes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _poolReplaced = new(StringComparer.Ordinal);
    private readonly Histogram _poolRefill = new();

    public void CreateCompleted(TimeSpan elapsed) => _create.Observe(elapsed.TotalSeconds);

    /// <summary>One finished process; <paramref name="kind"/> is "exec" or "run".</summary>
    public void ProcessCompleted(string kind, TimeSpan elapsed, bool oomKilled, bool timedOut)
    {
        _exec.GetOrAdd(kind, _ => new Histogram()).Observe(elapsed.TotalSeconds);
        if (oomKilled) Interlocked.Increment(ref _oomKills);
        if (timedOut) Interlocked.Increment(ref _timeouts);
    }

    public void PolicyDecided(bool allow) => _policy.AddOrUpdate(allow ? "allow" : "deny", 1, (_, n) => n + 1);

    public void Reaped() => Interlocked.Increment(ref _reaped);

    public void Recovered(int reclaimed, int reattached)
    {
        Interlocked.Add(ref _reclaimed, reclaimed);
        Interlocked.Add(ref _reattached, reattached);
    }

    public void PoolClaimed(string pool, bool hit) => _poolClaims.AddOrUpdate((pool.Length > 0 ? pool : "none", hit ? "hit" : "miss"), 1, (_, n) => n + 1);

    public void PoolRefilled(string pool, TimeSpan elapsed) => _poolRefill.Observe(elapsed.TotalSeconds);

    public void PoolSize(string pool, int ready) => _poolSizes[pool] = ready;

    public void PoolReplaced(string pool) => _poolReplaced.AddOrUpdate(pool, 1, (_, n) => n + 1);

    /// <summary>Counts Core's lifecycle events until <paramref name="stoppingToken"/> is cancelled.</summary>
    public async Task CountEventsAsync(SandboxEvents events, CancellationToken stoppingToken)
    {
        using var subscription = events.Subscribe();
        try
        {
            await foreach (var e in subscription.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
                _events.AddOrUpdate(e.Kind.ToString().ToLowerInvariant(), 1, (_, n) => n + 1);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public string Render(SandboxRegistry registry)
    {
        var sb = new StringBuilder();
        sb.Append("# HELP sandboxd_sandboxes Long-lived sandboxes by tier and state.\n# TYPE sandboxd_sandboxes gauge\n");
        foreach (var g in registry.All.GroupBy(e => (Tier: TierNames.ToPolicy(e.Tier), State: e.State.ToString().ToLowerInvariant())).OrderBy(g => g.Key))
            sb.Append(CultureInfo.InvariantCulture, $"sandboxd_sandboxes{{tier=\"{g.Key.Tier}\",state=\"{g.Key.State}\"}} {g.Count()}\n");
        _create.Write(sb, "sandboxd_create_seconds", "Time to create a long-lived sandbox (policy + launch), seconds.", "");
        sb.Append("# HELP sandboxd_process_seconds Wall-clock time of processes (kind=exec|run), seconds.\n# TYPE sandboxd_process_seconds histogram\n");
        foreach (var (kind, h) in _exec.OrderBy(k => k.Key))
            h.Write(sb, "sandboxd_process_seconds", null, $"kind=\"{kind}\"");
        sb.Append("# HELP sandboxd_policy_decisions_total Policy decisions by outcome.\n# TYPE sandboxd_policy_decisions_total counter\n");
        foreach (var (outcome, n) in _policy.OrderBy(k => k.Key))
            sb.Append(CultureInfo.InvariantCulture, $"sandboxd_policy_decisions_total{{outcome=\"{outcome}\"}} {n}\n");
        sb.Append("# HELP sandboxd_sandbox_events_total Lifecycle events of sandboxes (and one-shot runs) by kind.\n# TYPE sandboxd_sandbox_events_total counter\n");
        foreach (var (kind, n) in _events.OrderBy(k => k.Key))
            sb.Append(CultureInfo.InvariantCulture, $"sandboxd_sandbox_events_total{{kind=\"{kind}\"}} {n}\n");
        Counter(sb, "sandboxd_oom_kills_total", "Processes that ended at their sandbox's memory limit.", _oomKills);
        Counter(sb, "sandboxd_timeouts_total", "Processes killed at their wall-clock limit.", _timeouts);
        Counter(sb, "sandboxd_ttl_reaped_total", "Sandboxes deleted because their TTL passed.", _reaped);
        Counter(sb, "sandboxd_restart_reclaimed_total", "Sandboxes found left over at startup and cleaned up.", _reclaimed);
        Counter(sb, "sandboxd_restart_reattached_total", "Sandboxes still running at startup and taken back.", _reattached);
        sb.Append("# HELP sandboxd_pool_claims_total Requests that looked for a warm pooled sandbox, by pool (none: no pool has the request's shape) and outcome (hit, miss).\n# TYPE sandboxd_pool_claims_total counter\n");
        foreach (var ((pool, outcome), n) in _poolClaims.OrderBy(k => k.Key))
            sb.Append(CultureInfo.InvariantCulture, $"sandboxd_pool_claims_total{{pool=\"{pool}\",outcome=\"{outcome}\"}} {n}\n");
        sb.Append("# HELP sandboxd_pool_size Sandboxes waiting in each warm pool.\n# TYPE sandboxd_pool_size gauge\n");
        foreach (var (pool, n) in _poolSizes.OrderBy(k => k.Key))
            sb.Append(CultureInfo.InvariantCulture, $"sandboxd_pool_size{{pool=\"{pool}\"}} {n}\n");
        sb.Append("# HELP sandboxd_pool_replaced_total Pooled sandboxes destroyed unused (past the pool TTL, or found dead).\n# TYPE sandboxd_pool_replaced_total counter\n");
        foreach (var (pool, n) in _poolReplaced.OrderBy(k => k.Key))
            sb.Append(CultureInfo.InvariantCulture, $"sandboxd_pool_replaced_total{{pool=\"{pool}\"}} {n}\n");
        _poolRefill.Write(sb, "sandboxd_pool_refill_seconds", "Time to create one pooled sandbox (refill latency), seconds.", "");
        return sb.ToString();
    }

    private static void Counter(StringBuilder sb, string name, string help, long value) =>
        sb.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} counter\n{name} {Interlocked.Read(ref value)}\n");

    private sealed class Histogram
    {
        private readonly long[] _buckets = new long[s_bounds.Length];
        private readonly Lock _lock = new();
        private long _count;
        private double _sum;

        public void Observe(double seconds)
        {
            lock (_lock)
            {
                for (var i = 0; i < s_bounds.Length; i++)
                {
                    if (seconds <= s_bounds[i])
                        _buckets[i]++;
                }
                _count++;
                _sum += seconds;
            }
        }

        public void Write(StringBuilder sb, string name, string? help, string labels)
        {
            if (help is not null)
                sb.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} histogram\n");
            var sep = labels.Length > 0 ? "," : "";
            lock (_lock)
            {
                for (var i = 0; i < s_bounds.Length; i++)
                    sb.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{{labels}{sep}le=\"{s_bounds[i]}\"}} {_buckets[i]}\n");
                sb.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {_count}\n");
                var l = labels.Length > 0 ? $"{{{labels}}}" : "";
                sb.Append(CultureInfo.InvariantCulture, $"{name}_sum{l} {_sum}\n{name}_count{l} {_count}\n");
            }
        }
    }
}
