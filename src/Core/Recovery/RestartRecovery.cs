using Microsoft.Extensions.Logging;
using Sandbox.Isolation;

namespace Sandbox.Core;

/// <summary>Run once when an owner (sandboxd) starts, before it serves: takes back what a previous owner left running
/// (it was killed, or crashed) and cleans up the rest. Long-lived sandboxes are created with DieWithOwner = false:
/// they outlive the owner, and their agent waits on a host-only socket for the next one to connect. For each record:
/// when the driver can take it back (its processes are the same ones, in its cgroup, and its agent answers), the
/// sandbox is re-attached (running, in its tenant's quota, with its TTL); otherwise what is left of it is killed and
/// removed and its record deleted. Then leftovers of every driver that belong to no re-attached sandbox are reclaimed
/// too (one-shot runs, which die with their owner).</summary>
public sealed class RestartRecovery(DriverRegistry drivers, StateStore store, SandboxService sandboxes, ISandboxMetrics metrics,
    ILogger<RestartRecovery> logger)
{
    /// <summary>Returns how many sandboxes were re-attached and how many reclaimed.</summary>
    public async Task<(int Reattached, int Reclaimed)> RecoverAsync(CancellationToken cancellationToken)
    {
        var probed = await drivers.ProbedAsync(cancellationToken).ConfigureAwait(false);
        var (records, bad) = store.LoadAll();
        foreach (var (file, error) in bad)
        {
            CoreLog.BadStateFile(logger, file, error);
            store.DeleteFile(file);
        }
        var reclaimed = 0;
        var reattached = new HashSet<SandboxId>();
        foreach (var record in records)
        {
            var id = SandboxId.Parse(record.Id);
            var (sandbox, why) = await TryAttachAsync(probed, id, record, cancellationToken).ConfigureAwait(false);
            if (sandbox is not null)
            {
                try
                {
                    sandboxes.Restore(record, sandbox);
                    reattached.Add(id);
                    CoreLog.Reattached(logger, record.Id, record.Tenant, record.Tier);
                    continue;
                }
                catch (SandboxException e)
                {
                    await sandbox.DisposeAsync().ConfigureAwait(false);
                    why = e.Message;
                }
            }
            var found = await ReclaimAsync(id, record.Tier, cancellationToken).ConfigureAwait(false);
            store.Delete(id);
            CoreLog.LostAtRestart(logger, record.Id, record.Tenant, found, why!);
            reclaimed++;
        }
        foreach (var reclaimer in drivers.Registered.OfType<ILeftoverReclaimer>())
        {
            foreach (var id in reclaimer.ListLeftovers())
            {
                if (reattached.Contains(id))
                    continue;
                store.Delete(id);
                if (await reclaimer.ReclaimAsync(id, cancellationToken).ConfigureAwait(false))
                {
                    CoreLog.OrphanReclaimed(logger, id.Value);
                    reclaimed++;
                }
            }
            reclaimer.RemoveStaleFiles(reattached);
        }
        metrics.Recovered(reclaimed, reattached.Count);
        return (reattached.Count, reclaimed);
    }

    /// <summary>The sandbox back from its driver, or why not. Only the driver reads the attachment.</summary>
    private static async Task<(ISandbox? Sandbox, string? Why)> TryAttachAsync(ProbedDrivers probed, SandboxId id, SandboxRecord record,
        CancellationToken cancellationToken)
    {
        if (record.Attachment is not { } attachment)
            return (null, "it cannot be re-attached (no attachment recorded)");
        if (!probed.IsAvailable(attachment.Tier))
            return (null, $"the {TierNames.ToPolicy(attachment.Tier)} tier is not available: {probed.Unavailable.GetValueOrDefault(attachment.Tier)}");
        var driver = probed.Get(attachment.Tier);
        if (!driver.Capabilities.HasFlag(DriverCapabilities.Attach))
            return (null, $"the {TierNames.ToPolicy(attachment.Tier)} tier cannot re-attach sandboxes");
        try
        {
            return (await driver.AttachAsync(id, attachment, cancellationToken).ConfigureAwait(false), null);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return (null, e.Message);
        }
    }

    private async Task<bool> ReclaimAsync(SandboxId id, string tier, CancellationToken cancellationToken) =>
        drivers.Registered.FirstOrDefault(d => TierNames.ToPolicy(d.Tier) == tier) is ILeftoverReclaimer reclaimer
        && await reclaimer.ReclaimAsync(id, cancellationToken).ConfigureAwait(false);
}
