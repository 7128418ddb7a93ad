using System.Collections.Concurrent;
using Sandbox.Core;

namespace Sandbox.SandboxApi.Api;

/// <summary>Idempotent CreateSandbox (AIP-155): remembers, per tenant and request_id, the create that id started, for
/// <see cref="Retention"/>. A retry while the first is still running waits for it; a retry after it failed runs again
/// (nothing was created). In memory only: a restarted sandboxd forgets them.</summary>
public sealed class CreateRequestLedger(TimeProvider time)
{
    public static readonly TimeSpan Retention = TimeSpan.FromMinutes(10);

    private sealed record Slot(Task<SandboxEntry> Create, DateTimeOffset Started);

    private readonly ConcurrentDictionary<(string Tenant, string RequestId), Slot> _slots = new();

    /// <summary>The create for (tenant, request id): the one already started (not failed, not older than the
    /// retention), else a new one from <paramref name="create"/>.</summary>
    public Task<SandboxEntry> GetOrStart(string tenant, string requestId, Func<Task<SandboxEntry>> create)
    {
        var now = time.GetUtcNow();
        Prune(now);
        var key = (tenant, requestId);
        while (true)
        {
            if (_slots.TryGetValue(key, out var existing))
            {
                if (!existing.Create.IsFaulted && !existing.Create.IsCanceled && now - existing.Started < Retention)
                    return existing.Create;
                _slots.TryRemove(new KeyValuePair<(string, string), Slot>(key, existing));
                continue;
            }
            var started = new TaskCompletionSource<SandboxEntry>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!_slots.TryAdd(key, new Slot(started.Task, now)))
                continue;
            _ = RunAsync(create, started);
            return started.Task;
        }
    }

    private static async Task RunAsync(Func<Task<SandboxEntry>> create, TaskCompletionSource<SandboxEntry> result)
    {
        try
        {
            result.TrySetResult(await create().ConfigureAwait(false));
        }
        catch (Exception e)
        {
            result.TrySetException(e);
        }
    }

    private void Prune(DateTimeOffset now)
    {
        foreach (var (key, slot) in _slots)
        {
            if (now - slot.Started >= Retention && slot.Create.IsCompleted)
                _slots.TryRemove(new KeyValuePair<(string, string), Slot>(key, slot));
        }
    }
}
