using Microsoft.Extensions.Logging;

namespace Sandbox.Core;

/// <summary>Deletes sandboxes whose TTL has passed, every <see cref="SandboxCoreOptions.ReapInterval"/> of the given
/// clock (a fake clock in tests).</summary>
public sealed class TtlReaper(SandboxService service, SandboxCoreOptions options, TimeProvider time, ILogger<TtlReaper> logger)
{
    /// <summary>Runs until <paramref name="stoppingToken"/> is cancelled.</summary>
    public async Task RunAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.ReapInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
                await ReapOnceAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>One pass; failures are logged, never thrown (the next tick tries again).</summary>
    public async Task<int> ReapOnceAsync()
    {
        try
        {
            var n = await service.ReapExpiredAsync().ConfigureAwait(false);
            if (n > 0)
                CoreLog.Reaped(logger, n);
            return n;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            CoreLog.ReaperFailed(logger, e);
            return 0;
        }
    }
}
