using System.Diagnostics;
using System.Diagnostics.Metrics;
using Sandbox.Core;
using Sandbox.Isolation;

namespace Sandbox.SandboxApi.Observability;

/// <summary>
/// Per-sandbox usage as observable instruments (exported by OpenTelemetry's Prometheus exporter with the call
/// metrics): CPU time, memory now and at peak, tasks, OOM kills and block I/O of every running or paused sandbox,
/// labelled sandbox_id, tenant and tier. Read from the sandbox's cgroup at scrape time (for a microVM: its QEMU's), so
/// a deleted sandbox's series are gone from the next scrape: the label set is bounded by the live sandboxes, which the
/// tenants' quotas bound. One reading per sandbox serves every instrument of a scrape (cached for a second).
/// </summary>
public sealed class SandboxUsageMetrics : IDisposable
{
    private static readonly TimeSpan s_reuse = TimeSpan.FromSeconds(1);

    private readonly Meter _meter = new(CallMetrics.MeterName);
    private readonly SandboxRegistry _registry;
    private readonly SandboxService _sandboxes;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private IReadOnlyList<(SandboxEntry Entry, TagList Tags, SandboxStats Stats)> _last = [];
    private long _lastAt = long.MinValue;

    public SandboxUsageMetrics(SandboxRegistry registry, SandboxService sandboxes, TimeProvider time)
    {
        _registry = registry;
        _sandboxes = sandboxes;
        _time = time;
        _meter.CreateObservableCounter("sandboxd.sandbox.cpu.time", () => Each(s => s.CpuTime.TotalSeconds), "s",
            "CPU time (user + system) of each sandbox's processes");
        _meter.CreateObservableGauge("sandboxd.sandbox.memory.usage", () => Each(s => s.MemoryBytes), "By",
            "Memory in use by each sandbox (its cgroup's, page cache and tmpfs included)");
        _meter.CreateObservableGauge("sandboxd.sandbox.memory.peak", () => Each(s => s.MemoryPeakBytes), "By",
            "Highest memory use of each sandbox so far");
        _meter.CreateObservableGauge("sandboxd.sandbox.tasks", () => Each(s => (long)s.Tasks), "{task}",
            "Processes and threads in each sandbox");
        _meter.CreateObservableCounter("sandboxd.sandbox.oom_kills", () => Each(s => s.OomKills), "{kill}",
            "Processes of each sandbox killed at its memory limit");
        _meter.CreateObservableCounter("sandboxd.sandbox.io", Io, "By",
            "Block I/O of each sandbox by direction (read, write), where its cgroup accounts it (cgroup v2 io)");
    }

    private IEnumerable<Measurement<T>> Each<T>(Func<SandboxStats, T> value) where T : struct =>
        Sample().Select(s => new Measurement<T>(value(s.Stats), s.Tags));

    private IEnumerable<Measurement<long>> Io()
    {
        foreach (var (_, tags, stats) in Sample())
        {
            if (stats.Io is not { } io)
                continue;
            var read = tags;
            read.Add("direction", "read");
            var write = tags;
            write.Add("direction", "write");
            yield return new Measurement<long>(io.ReadBytes, read);
            yield return new Measurement<long>(io.WrittenBytes, write);
        }
    }

    /// <summary>Every live sandbox's stats, read once per scrape (a reading less than a second old is reused, less
    /// the sandboxes deleted since). A sandbox that goes away while being read is left out; a driver whose stats are
    /// not ready at once is left out of this scrape rather than blocking the exporter (both drivers read cgroup files
    /// synchronously).</summary>
    private IEnumerable<(SandboxEntry Entry, TagList Tags, SandboxStats Stats)> Sample()
    {
        lock (_lock)
        {
            var now = _time.GetTimestamp();
            if (_lastAt != long.MinValue && _time.GetElapsedTime(_lastAt, now) < s_reuse)
                return _last.Where(s => IsLive(s.Entry)).ToList();
            var sample = new List<(SandboxEntry, TagList, SandboxStats)>();
            foreach (var entry in _registry.All)
            {
                if (!IsLive(entry))
                    continue;
                Task<SandboxStats> read;
                try
                {
                    read = _sandboxes.GetStatsAsync(new Principal(entry.Tenant, "metrics"), entry.Id, CancellationToken.None);
                }
                catch (SandboxException)
                {
                    continue; // deleted or stopped since the registry was listed
                }
                if (!read.IsCompletedSuccessfully)
                {
                    read.ContinueWith(static t => _ = t.Exception, TaskScheduler.Default); // observed, not awaited
                    continue;
                }
                var tags = new TagList { { "sandbox_id", entry.Id.Value }, { "tenant", entry.Tenant }, { "tier", TierNames.ToPolicy(entry.Tier) } };
                sample.Add((entry, tags, read.Result));
            }
            _last = sample;
            _lastAt = now;
            return sample;
        }
    }

    private static bool IsLive(SandboxEntry entry) => entry.State is SandboxState.Running or SandboxState.Paused;

    public void Dispose() => _meter.Dispose();
}
