using Sandbox.Isolation;

namespace Sandbox.Core;

public sealed partial class SandboxService
{
    /// <summary>Tears a sandbox down. One being created answers FailedPrecondition; one already going away answers
    /// NOT_FOUND, like a deleted one.</summary>
    public Task DeleteAsync(Principal principal, SandboxId id) =>
        RemoveAsync(registry.Get(principal.Tenant, id), "deleted", "delete");

    /// <summary>Deletes every sandbox whose TTL has passed; returns how many.</summary>
    public async Task<int> ReapExpiredAsync()
    {
        var now = time.GetUtcNow();
        var reaped = 0;
        foreach (var entry in registry.All.Where(e => SandboxLifecycle.CanDelete(e.State) && e.ExpiresAt <= now))
        {
            try
            {
                await RemoveAsync(entry, "expired", "expire").ConfigureAwait(false);
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

    /// <summary>The owner stops for a restart: every sandbox stays running for the next owner to re-attach (as after a
    /// crash); only says how many.</summary>
    public void LeaveRunningForRestart() =>
        CoreLog.LeftForRestart(logger, registry.All.Count(e => e.State == SandboxState.Running));

    /// <summary>Deletes everything (the owner shuts down).</summary>
    public async Task RemoveAllAsync()
    {
        foreach (var entry in registry.All.Where(e => SandboxLifecycle.CanDelete(e.State)))
        {
            try
            {
                await RemoveAsync(entry, "owner stopped", "shut down").ConfigureAwait(false);
            }
            catch (SandboxException e) when (e.Code == SandboxErrorCode.NotFound)
            {
                // Deleted meanwhile.
            }
        }
    }

    private async Task RemoveAsync(SandboxEntry entry, string reason, string verb)
    {
        if (!entry.TryTransition(SandboxState.Stopping, reason, out var from))
        {
            throw from is SandboxState.Stopping or SandboxState.Deleted
                ? new SandboxException(SandboxErrorCode.NotFound, $"sandbox {entry.Id} not found")
                : new SandboxStateException(entry.Id, from, verb);
        }
        var detail = reason;
        try
        {
            if (entry.Sandbox is not null)
                await entry.Sandbox.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            detail = $"{reason} (teardown failed: {e.Message})";
            throw;
        }
        finally
        {
            entry.Transition(SandboxState.Deleted, verb);
            registry.TryRemove(entry);
            entry.Reservation?.Dispose();
            store.Delete(entry.Id);
            await PublishAsync(SandboxEventKind.Deleted, entry, detail: detail).ConfigureAwait(false);
        }
        CoreLog.Removed(logger, entry.Id.Value, entry.Tenant, reason);
    }
}
