using Sandbox.SandboxApi.Api;

namespace Sandbox.SandboxApi.StreamLimits;

/// <summary>The most memory one stream of each kind can make sandboxd hold, bytes: what its bounded queues and the one
/// request message being decoded (at most <see cref="MaxReceiveMessageBytes"/>) add up to. These are reservations
/// against tenants[].max_inflight_mib, not measurements.</summary>
public static class StreamCost
{
    /// <summary>The largest request message sandboxd decodes (gRPC MaxReceiveMessageSize).</summary>
    public const int MaxReceiveMessageBytes = 2 << 20;

    public static long Bytes(StreamKind kind) => kind switch
    {
        // The event queue full of output chunks, the 64 KiB stdin pipe, one stdin message being decoded.
        StreamKind.Process => (long)EventPump.QueueDepth * EventPump.MaxChunkBytes + StdinPipe.PauseWriterBytes + MaxReceiveMessageBytes,
        // One chunk from the client being decoded, the copy in the agent's 1 MiB buffer, the one being sent.
        StreamKind.File => MaxReceiveMessageBytes + 2L * SandboxesService.FileChunkBytes,
        // A subscriber's queue of small events (a few hundred bytes each).
        StreamKind.Events => 256L << 10,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown stream kind"),
    };

    public static string Describe(long bytes) => bytes >= 1 << 20 ? $"{bytes / (double)(1 << 20):0.#} MiB" : $"{bytes >> 10} KiB";
}
