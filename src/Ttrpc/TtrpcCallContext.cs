namespace Sandbox.Ttrpc;

/// <summary>What a server handler knows about the call it serves.</summary>
public sealed class TtrpcCallContext
{
    private List<Action>? _onResponseSent;

    internal TtrpcCallContext(string service, string method, uint streamId, TimeSpan? timeout,
        IReadOnlyList<KeyValuePair<string, string>> metadata, CancellationToken cancellationToken)
    {
        Service = service;
        Method = method;
        StreamId = streamId;
        Timeout = timeout;
        Metadata = metadata;
        CancellationToken = cancellationToken;
    }

    public string Service { get; }
    public string Method { get; }
    public uint StreamId { get; }

    /// <summary>The caller's relative deadline (timeout_nano), or null when none was sent.</summary>
    public TimeSpan? Timeout { get; }

    /// <summary>Request metadata in wire order (keys as sent; repeated keys allowed).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Metadata { get; }

    /// <summary>Cancelled at the caller's deadline or when the connection closes.</summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>Runs <paramref name="callback"/> once the response frame has been written (or writing it failed).</summary>
    public void OnResponseSent(Action callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        lock (this) (_onResponseSent ??= []).Add(callback);
    }

    internal void RunResponseSent()
    {
        Action[] callbacks;
        lock (this)
        {
            if (_onResponseSent is null) return;
            callbacks = [.. _onResponseSent];
            _onResponseSent = null;
        }
        foreach (var callback in callbacks)
        {
            try { callback(); } catch { /* a callback's failure must not break the connection */ }
        }
    }
}
