using Microsoft.Extensions.Hosting;
using Sandbox.Core;
using Sandbox.Isolation.Cgroups;
using Sandbox.SandboxApi.Configuration;
using Serilog.Context;

namespace Sandbox.SandboxApi.Hosting;

/// <summary>Core's restart recovery as a hosted service: runs before the listeners open; an orderly shutdown deletes
/// every live sandbox, unless the stop is a restart (<see cref="RestartSignal"/>): then, as after a crash, they are left
/// for the next sandboxd to re-attach.</summary>
internal sealed class RecoveryService(SandboxCore core, RestartSignal restart, SandboxdConfig config) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        using var _ = LogContext.PushProperty("RequestId", "startup");
        await core.Recovery.RecoverAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        using var _ = LogContext.PushProperty("RequestId", "shutdown");
        if (restart.Requested)
            core.Sandboxes.LeaveRunningForRestart();
        else
            await core.Sandboxes.RemoveAllAsync().ConfigureAwait(false);
        await core.DisposeAsync().ConfigureAwait(false);
        if (!restart.Requested)
        {
            // Every sandbox is gone: so are the cgroup parents they lived under (issue 9 item 6), on every hierarchy.
            foreach (var parent in new[] { config.Container.CgroupParent, config.Container.CgroupParent + "-vm" })
                CgroupParents.RemoveIfEmpty(parent);
        }
    }
}

/// <summary>Core's TTL reaper in the background.</summary>
internal sealed class ReaperService(SandboxCore core) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var _ = LogContext.PushProperty("RequestId", "ttl-reaper");
        await core.Reaper.RunAsync(stoppingToken).ConfigureAwait(false);
    }
}

/// <summary>Feeds Core's event stream into sandboxd's metrics.</summary>
internal sealed class EventMetricsService(SandboxCore core, Metrics.SandboxdMetrics metrics) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => metrics.CountEventsAsync(core.Events, stoppingToken);
}

/// <summary>Core's warm pools: started after restart recovery (leftovers are gone first), stopped before the sandboxes
/// are removed; stopping destroys every waiting sandbox, for a restart too (they belong to no one, and the next
/// sandboxd fills its own).</summary>
internal sealed class PoolService(SandboxCore core) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        using var _ = LogContext.PushProperty("RequestId", "pools");
        await core.StartPoolsAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task StopAsync(CancellationToken cancellationToken) => await core.Pools.DisposeAsync().ConfigureAwait(false);
}
