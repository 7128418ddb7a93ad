using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sandbox.Isolation;
using Sandbox.SandboxApi.Metrics;
using Serilog.Context;

namespace Sandbox.SandboxApi.Orchestration;

/// <summary>Runs once at startup, before the listeners open: takes back what a previous sandboxd left running (it was
/// killed, or crashed) and cleans up the rest. Long-lived container sandboxes are created with
/// DieWithOwner = false: bwrap and the agent outlive the daemon, and the agent waits on a socket in
/// {state_dir}/channels for a daemon to connect again. For each record: when its bwrap is still the same process (pid
/// and start time), in its cgroup, and its agent answers, the sandbox is re-attached (running, in its tenant's quota,
/// with its TTL); otherwise what is left of it is killed and removed and its record deleted. Then leftover cgroups under
/// sandboxd's cgroup parent that belong to no re-attached sandbox are reclaimed too (one-shot runs, which die with the
/// daemon). On an orderly shutdown every live sandbox is deleted.</summary>
public sealed class RestartRecovery(IServiceProvider services, StateStore store, SandboxService sandboxes, SandboxdMetrics metrics,
    ILogger<RestartRecovery> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        using var _ = LogContext.PushProperty("RequestId", "startup");
        var driver = services.GetKeyedService<ISandboxDriver>(SandboxTier.Container);
        var containers = driver as ILeftoverReclaimer;
        var (records, bad) = store.LoadAll();
        foreach (var (file, error) in bad)
        {
            SandboxServiceLog.BadStateFile(logger, file, error);
            store.DeleteFile(file);
        }
        var reclaimed = 0;
        var reattached = new HashSet<SandboxId>();
        foreach (var record in records)
        {
            var id = SandboxId.Parse(record.Id);
            string why;
            if (driver is null)
                why = "the container tier is not available";
            else if (record.Tier != TierNames.ToPolicy(SandboxTier.Container) || record.Attachment is null)
                why = "it cannot be re-attached (no attachment recorded)";
            else
            {
                ISandbox? sandbox = null;
                try
                {
                    sandbox = await driver.AttachAsync(id, record.Attachment, cancellationToken).ConfigureAwait(false);
                    sandboxes.Restore(record, sandbox);
                    reattached.Add(id);
                    SandboxServiceLog.Reattached(logger, record.Id, record.Tenant, record.Tier);
                    continue;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    if (sandbox is not null)
                        await sandbox.DisposeAsync().ConfigureAwait(false);
                    why = e.Message;
                }
            }
            var found = containers is not null && await containers.ReclaimAsync(id, cancellationToken).ConfigureAwait(false);
            store.Delete(id);
            SandboxServiceLog.LostAtRestart(logger, record.Id, record.Tenant, found, why);
            reclaimed++;
        }
        if (containers is not null)
        {
            foreach (var id in containers.ListLeftovers())
            {
                if (reattached.Contains(id))
                    continue;
                if (await containers.ReclaimAsync(id, cancellationToken).ConfigureAwait(false))
                {
                    SandboxServiceLog.OrphanReclaimed(logger, id.Value);
                    reclaimed++;
                }
            }
            containers.RemoveStaleFiles(reattached);
        }
        // Other tiers (microVMs) are not re-attached: whatever they left running is reclaimed.
        if (services.GetKeyedService<ISandboxDriver>(SandboxTier.MicroVm) is ILeftoverReclaimer vms)
        {
            foreach (var id in vms.ListLeftovers())
            {
                store.Delete(id);
                if (await vms.ReclaimAsync(id, cancellationToken).ConfigureAwait(false))
                {
                    SandboxServiceLog.OrphanReclaimed(logger, id.Value);
                    reclaimed++;
                }
            }
        }
        metrics.Reclaimed(reclaimed);
        metrics.Reattached(reattached.Count);
    }

    public Task StopAsync(CancellationToken cancellationToken) => sandboxes.RemoveAllAsync();
}
