using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sandbox.Isolation;
using Sandbox.Isolation.Container;
using Sandbox.SandboxApi.Metrics;
using Serilog.Context;

namespace Sandbox.SandboxApi.Orchestration;

/// <summary>Runs once at startup, before the listeners open: whatever a previous sandboxd left behind (it was
/// killed, or the host rebooted) is cleaned up. Sandboxes are created with bwrap's --die-with-parent, so their
/// processes die with the daemon that created them; what remains is their state records and their cgroups (with
/// any process that escaped the pid namespace's teardown). Each recorded sandbox is reclaimed (cgroup killed and
/// removed) and its record deleted; leftover cgroups under sandboxd's cgroup parent without a record are reclaimed
/// too. On shutdown, every live sandbox is deleted.</summary>
public sealed class RestartRecovery(IServiceProvider services, StateStore store, SandboxService sandboxes, SandboxdMetrics metrics,
    ILogger<RestartRecovery> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        using var _ = LogContext.PushProperty("RequestId", "startup");
        var driver = services.GetKeyedService<ISandboxDriver>(SandboxTier.Container) as BubblewrapDriver;
        var (records, bad) = store.LoadAll();
        foreach (var (file, error) in bad)
        {
            SandboxServiceLog.BadStateFile(logger, file, error);
            store.DeleteFile(file);
        }
        var reclaimed = 0;
        foreach (var record in records)
        {
            var id = SandboxId.Parse(record.Id);
            var found = driver is not null && await driver.ReclaimAsync(id, cancellationToken).ConfigureAwait(false);
            store.Delete(id);
            SandboxServiceLog.LostAtRestart(logger, record.Id, record.Tenant, found);
            reclaimed++;
        }
        if (driver is not null)
        {
            foreach (var id in driver.ListLeftovers())
            {
                if (await driver.ReclaimAsync(id, cancellationToken).ConfigureAwait(false))
                {
                    SandboxServiceLog.OrphanReclaimed(logger, id.Value);
                    reclaimed++;
                }
            }
        }
        metrics.Reclaimed(reclaimed);
    }

    public Task StopAsync(CancellationToken cancellationToken) => sandboxes.RemoveAllAsync();
}
