using Sandbox.Isolation;

namespace Sandbox.Core;

/// <summary>Per-tenant quotas: concurrent sandboxes (long-lived ones and running one-shots) and the sum of their
/// memory limits. A reservation that would pass either answers RESOURCE_EXHAUSTED naming the quota.</summary>
public sealed class TenantQuotas(SandboxCoreOptions options)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, (int Count, long MemoryMiB)> _used = [];

    /// <summary>Takes one sandbox of <paramref name="memoryMiB"/> from the tenant's quota; dispose to give it back.</summary>
    /// <param name="enforce">false: count it even past the quota (a sandbox re-attached after a restart exists).</param>
    public IDisposable Reserve(string tenant, long memoryMiB, bool enforce = true)
    {
        var quota = QuotaOf(tenant);
        lock (_lock)
        {
            var (count, memory) = _used.GetValueOrDefault(tenant);
            if (enforce && count + 1 > quota.MaxSandboxes)
                throw new SandboxException(SandboxErrorCode.ResourceExhausted,
                    $"tenant '{tenant}' already has {count} sandboxes; its quota max_sandboxes is {quota.MaxSandboxes}");
            if (enforce && memory + memoryMiB > quota.MaxMemoryMiB)
                throw new SandboxException(SandboxErrorCode.ResourceExhausted,
                    $"tenant '{tenant}' has {memory} MiB of sandbox memory; {memoryMiB} MiB more would pass its quota max_memory_mib {quota.MaxMemoryMiB}");
            _used[tenant] = (count + 1, memory + memoryMiB);
        }
        return new Reservation(this, tenant, memoryMiB);
    }

    public TenantQuota QuotaOf(string tenant) => options.Quotas.GetValueOrDefault(tenant) ?? options.DefaultQuota;

    public (int Count, long MemoryMiB) Used(string tenant)
    {
        lock (_lock)
            return _used.GetValueOrDefault(tenant);
    }

    private void Release(string tenant, long memoryMiB)
    {
        lock (_lock)
        {
            var (count, memory) = _used.GetValueOrDefault(tenant);
            _used[tenant] = (Math.Max(0, count - 1), Math.Max(0, memory - memoryMiB));
        }
    }

    private sealed class Reservation(TenantQuotas owner, string tenant, long memoryMiB) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
                owner.Release(tenant, memoryMiB);
        }
    }
}
