using Microsoft.Extensions.Logging;

namespace Sandbox.KataShim.Daemon;

/// <summary>A shim daemon idles for a container's whole life after a burst of work (start-up, a Create, a Start, a
/// Delete): an aggressive compacting collection once the daemon has been quiet for <see cref="QuietPeriod"/> gives the
/// bursts' garbage back to the system (decommitted), so a waiting shim holds only what it keeps. Only when quiet: the
/// collection suspends every managed thread, and run in the middle of `ctr run` (between Create and Start, or between
/// Delete and Shutdown) it delayed the next RPC and the events by 10-20 ms; a `ctr run --rm` that ends within the
/// period never collects at all.</summary>
internal static class HeapTrim
{
    public static readonly TimeSpan QuietPeriod = TimeSpan.FromSeconds(1);

    private static readonly Lock s_gate = new();
    private static Timer? s_timer;
    private static string s_burst = "";

    /// <param name="burst">What just ended ("start-up", "create", "start", "delete"), for the debug log line.</param>
    public static void AfterBurst(ILogger logger, string burst)
    {
        lock (s_gate)
        {
            s_burst = burst;
            // Each burst pushes the collection back: it runs once the daemon has been quiet for the whole period.
            s_timer ??= new Timer(_ => Trim(logger), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            s_timer.Change(QuietPeriod, Timeout.InfiniteTimeSpan);
        }
    }

    private static void Trim(ILogger logger)
    {
        string burst;
        lock (s_gate)
            burst = s_burst;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        var info = GC.GetGCMemoryInfo();
        ShimLog.HeapTrimmed(logger, burst, info.HeapSizeBytes >> 10, info.TotalCommittedBytes >> 10);
    }
}
