using Sandbox.Isolation;
using Sandbox.SandboxApi.Configuration;

namespace Sandbox.SandboxApi.StreamLimits;

/// <summary>Bounds what one tenant's open streams (Exec, Run, WriteFile, ReadFile, WatchEvents) can make sandboxd hold:
/// at most <see cref="TenantConfig.MaxStreams"/> streams at once, and at most <see cref="TenantConfig.MaxInflightMiB"/>
/// of buffers summed over them. Each stream reserves its kind's worst case (<see cref="StreamCost"/>) when it opens and
/// gives it back when it ends, so the bound holds whatever the clients send or how slowly they read; a stream that
/// would pass either limit is refused up front with ResourceExhausted, before any of its data is read.</summary>
public sealed class TenantStreamLimiter(SandboxdConfig config)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Usage> _usage = new(StringComparer.Ordinal);
    private readonly TenantConfig _defaults = new() { Name = "(unlisted)" };

    private sealed class Usage
    {
        public int Streams;
        public long Bytes;
    }

    /// <summary>Reserves one stream of <paramref name="kind"/> for <paramref name="tenant"/>; dispose the lease when the
    /// stream ends.</summary>
    public IDisposable Acquire(string tenant, StreamKind kind)
    {
        var limits = config.Tenants.FirstOrDefault(t => t.Name == tenant) ?? _defaults;
        var cost = StreamCost.Bytes(kind);
        var maxBytes = limits.MaxInflightMiB << 20;
        lock (_lock)
        {
            var usage = _usage.TryGetValue(tenant, out var u) ? u : _usage[tenant] = new Usage();
            if (usage.Streams >= limits.MaxStreams)
                throw new SandboxException(SandboxErrorCode.ResourceExhausted,
                    $"tenant '{tenant}' has {usage.Streams} streams open (Exec, Run, WriteFile, ReadFile, WatchEvents), the limit tenants[].max_streams = {limits.MaxStreams}; end one first");
            if (usage.Bytes + cost > maxBytes)
                throw new SandboxException(SandboxErrorCode.ResourceExhausted,
                    $"tenant '{tenant}' has {usage.Bytes >> 20} MiB of stream buffers reserved; a {kind} stream needs {StreamCost.Describe(cost)} more, past the limit tenants[].max_inflight_mib = {limits.MaxInflightMiB}; end a stream first");
            usage.Streams++;
            usage.Bytes += cost;
        }
        return new Lease(this, tenant, cost);
    }

    /// <summary>Streams and reserved bytes of <paramref name="tenant"/> now (for tests and metrics).</summary>
    public (int Streams, long Bytes) UsageOf(string tenant)
    {
        lock (_lock)
            return _usage.TryGetValue(tenant, out var u) ? (u.Streams, u.Bytes) : (0, 0);
    }

    private void Release(string tenant, long cost)
    {
        lock (_lock)
        {
            var usage = _usage[tenant];
            usage.Streams--;
            usage.Bytes -= cost;
            if (usage.Streams == 0)
                _usage.Remove(tenant);
        }
    }

    private sealed class Lease(TenantStreamLimiter owner, string tenant, long cost) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
                owner.Release(tenant, cost);
        }
    }
}
