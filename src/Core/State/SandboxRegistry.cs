using System.Collections.Concurrent;
using Sandbox.Isolation;

namespace Sandbox.Core;

/// <summary>The sandboxes Core knows about, in memory (from Creating until Deleted). Lookups are by tenant: another tenant's sandbox is indistinguishable from a
/// missing one (NOT_FOUND), so ids leak nothing across tenants.</summary>
public sealed class SandboxRegistry
{
    private readonly ConcurrentDictionary<SandboxId, SandboxEntry> _entries = new();

    public void Add(SandboxEntry entry)
    {
        if (!_entries.TryAdd(entry.Id, entry))
            throw new SandboxException(SandboxErrorCode.AlreadyExists, $"sandbox {entry.Id} already exists");
    }

    public SandboxEntry Get(string tenant, SandboxId id) =>
        _entries.TryGetValue(id, out var entry) && entry.Tenant == tenant
            ? entry
            : throw new SandboxException(SandboxErrorCode.NotFound, $"sandbox {id} not found");

    public bool TryRemove(SandboxEntry entry) => _entries.TryRemove(new KeyValuePair<SandboxId, SandboxEntry>(entry.Id, entry));

    /// <summary>The tenant's sandboxes, oldest first (then by id, so paging is stable).</summary>
    public IReadOnlyList<SandboxEntry> ListFor(string tenant) =>
        _entries.Values.Where(e => e.Tenant == tenant).OrderBy(e => e.CreatedAt).ThenBy(e => e.Id.Value, StringComparer.Ordinal).ToList();

    public IReadOnlyList<SandboxEntry> All => _entries.Values.ToList();
}
