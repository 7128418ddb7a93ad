using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sandbox.SandboxApi.Configuration;
using Serilog.Context;

namespace Sandbox.SandboxApi.Orchestration;

/// <summary>Deletes sandboxes whose TTL has passed, every sandboxes.reap_interval_ms.</summary>
public sealed class TtlReaper(SandboxService service, SandboxdConfig config, TimeProvider time, ILogger<TtlReaper> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(config.Sandboxes.ReapIntervalMs), time);
        using var _ = LogContext.PushProperty("RequestId", "ttl-reaper");
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                try
                {
                    var n = await service.ReapExpiredAsync().ConfigureAwait(false);
                    if (n > 0)
                        SandboxServiceLog.Reaped(logger, n);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    SandboxServiceLog.ReaperFailed(logger, e);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
