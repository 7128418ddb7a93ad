using Microsoft.Extensions.Logging;

namespace Sandbox.KataShim.Daemon;

/// <summary>A shim daemon idles for a container's whole life after a burst of work (start-up, a Create, a Start, a Delete):
/// an aggressive compacting collection after each burst gives the burst's garbage back to the system (decommitted),
/// so a waiting shim holds only what it keeps. Off the RPC path: the reply does not wait for it.</summary>
internal static class HeapTrim
{
    private static int s_pending;

    /// <param name="burst">What just ended ("start-up", "create", "start", "delete"), for the debug log line.</param>
    public static void AfterBurst(ILogger logger, string burst)
    {
        if (Interlocked.Exchange(ref s_pending, 1) != 0)
            return;
        _ = Task.Run(() =>
        {
            Volatile.Write(ref s_pending, 0);
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            var info = GC.GetGCMemoryInfo();
            ShimLog.HeapTrimmed(logger, burst, info.HeapSizeBytes >> 10, info.TotalCommittedBytes >> 10);
        });
    }
}
