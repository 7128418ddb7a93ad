using Sandbox.Isolation;
using Sandbox.SandboxApi.Auth;

namespace Sandbox.SandboxApi.Orchestration;

public sealed partial class SandboxService
{
    public Task DeleteAsync(Principal principal, SandboxId id) =>
        RemoveAsync(registry.Get(principal.Tenant, id), "deleted");

    /// <summary>Deletes every sandbox whose TTL has passed; returns how many.</summary>
    public async Task<int> ReapExpiredAsync()
    {
        var now = time.GetUtcNow();
        var reaped = 0;
        foreach (var entry in registry.All.Where(e => e.State == SandboxLifecycle.Running && e.ExpiresAt <= now))
        {
            try
            {
                await RemoveAsync(entry, "expired").ConfigureAwait(false);
                metrics.Reaped();
                reaped++;
            }
            catch (SandboxException e) when (e.Code == SandboxErrorCode.NotFound)
            {
                // Deleted by its owner meanwhile.
            }
        }
        return reaped;
    }

    /// <summary>Sandboxes running now (what a stop for a restart leaves behind).</summary>
    public int RunningCount => registry.All.Count(e => e.State == SandboxLifecycle.Running);

    /// <summary>Deletes everything (shutdown of the daemon).</summary>
    public async Task RemoveAllAsync()
    {
        foreach (var entry in registry.All.Where(e => e.State == SandboxLifecycle.Running))
            await RemoveAsync(entry, "sandboxd stopped").ConfigureAwait(false);
    }

    private async Task RemoveAsync(SandboxEntry entry, string reason)
    {
        if (entry.State == SandboxLifecycle.Creating)
            throw new SandboxException(SandboxErrorCode.FailedPrecondition, $"sandbox {entry.Id} is still being created");
        if (!registry.TryRemove(entry))
            throw new SandboxException(SandboxErrorCode.NotFound, $"sandbox {entry.Id} not found");
        entry.State = SandboxLifecycle.Stopped;
        entry.StateDetail = reason;
        try
        {
            if (entry.Sandbox is not null)
                await entry.Sandbox.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            entry.Reservation?.Dispose();
            store.Delete(entry.Id);
        }
        SandboxServiceLog.Removed(logger, entry.Id.Value, entry.Tenant, reason);
    }
}
