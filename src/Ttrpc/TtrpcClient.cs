using System.Collections.Concurrent;
using System.Net.Sockets;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sandbox.Ttrpc.Protocol;

namespace Sandbox.Ttrpc;

/// <summary>Per-call options: a deadline sent as timeout_nano (and enforced locally), and request metadata.</summary>
public sealed class TtrpcCallOptions
{
    public TimeSpan? Timeout { get; init; }
    public IReadOnlyList<KeyValuePair<string, string>>? Metadata { get; init; }
}

/// <summary>
/// A ttrpc client over one connected <see cref="Stream"/>: unary calls, any number outstanding, stream ids 1, 3, 5...
/// strictly increasing on the wire, responses matched by id in any order. The peer is not trusted: a frame over
/// 4 MiB or a broken frame closes the connection. When the connection is lost every pending call fails with
/// UNAVAILABLE, and so does every later call.
/// </summary>
public sealed class TtrpcClient : IAsyncDisposable
{
    private readonly Stream _stream;
    private readonly FrameReader _reader;
    private readonly FrameWriter _writer;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly ConcurrentDictionary<uint, TaskCompletionSource<Response>> _pending = new();
    private readonly CancellationTokenSource _closed = new();
    private readonly ILogger _logger;
    private readonly Task _readLoop;
    private long _nextStreamId = 1;
    private volatile string? _closeReason;

    public TtrpcClient(Stream stream, ILogger? logger = null) : this(stream, 1, logger)
    {
    }

    /// <param name="firstStreamId">The first (odd) stream id. A client that takes over a connection whose server
    /// already saw ids (a microVM restored from a snapshot taken after the host's Ping) starts above them.</param>
    public TtrpcClient(Stream stream, uint firstStreamId, ILogger? logger = null)
    {
        if ((firstStreamId & 1) == 0) throw new ArgumentOutOfRangeException(nameof(firstStreamId), "client stream ids are odd");
        _nextStreamId = firstStreamId;
        _stream = stream ?? throw new ArgumentNullException(nameof(stream));
        _logger = logger ?? NullLogger.Instance;
        _reader = new FrameReader(stream);
        _writer = new FrameWriter(stream);
        _readLoop = Task.Run(ReadLoopAsync);
    }

    /// <summary>Completes when the connection is closed (by either side, or after a protocol error).</summary>
    public Task Completion => _readLoop;

    public bool IsClosed => _closeReason is not null;

    /// <summary>Calls service/method with a typed request and parses the typed response.</summary>
    public Task<TResponse> CallAsync<TRequest, TResponse>(string service, string method, TRequest request,
        MessageParser<TResponse> parser, CancellationToken cancellationToken = default)
        where TRequest : IMessage<TRequest>
        where TResponse : IMessage<TResponse>
        => CallAsync(service, method, request, parser, null, cancellationToken);

    public async Task<TResponse> CallAsync<TRequest, TResponse>(string service, string method, TRequest request,
        MessageParser<TResponse> parser, TtrpcCallOptions? options, CancellationToken cancellationToken = default)
        where TRequest : IMessage<TRequest>
        where TResponse : IMessage<TResponse>
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(parser);
        var payload = await CallRawAsync(service, method, request.ToByteArray(), options, cancellationToken).ConfigureAwait(false);
        try
        {
            return parser.ParseFrom(payload.Span);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new TtrpcProtocolException($"unmarshal response error ({service}/{method}): {e.Message}", e);
        }
    }

    /// <summary>Calls service/method with raw payload bytes; returns the raw response payload.</summary>
    public async Task<ReadOnlyMemory<byte>> CallRawAsync(string service, string method, ReadOnlyMemory<byte> payload,
        TtrpcCallOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(service);
        ArgumentException.ThrowIfNullOrEmpty(method);
        var request = new Request
        {
            Service = service,
            Method = method,
            Payload = UnsafeByteOperations.UnsafeWrap(payload),
        };
        if (options?.Timeout is { } timeout)
        {
            if (timeout <= TimeSpan.Zero) throw new TtrpcException(StatusCode.DeadlineExceeded, "context deadline exceeded");
            request.TimeoutNano = timeout.Ticks > long.MaxValue / 100 ? long.MaxValue : timeout.Ticks * 100;
        }
        if (options?.Metadata is { } metadata)
        {
            foreach (var kv in metadata) request.Metadata.Add(new KeyValue { Key = kv.Key, Value = kv.Value });
        }
        var bytes = request.ToByteArray();
        if (bytes.Length > FrameHeader.MaxDataLength)
        {
            throw new TtrpcException(StatusCode.ResourceExhausted,
                $"message length {bytes.Length} exceed maximum message size of {FrameHeader.MaxDataLength}");
        }

        using var callCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (options?.Timeout is { } t) callCts.CancelAfter(t);

        var tcs = new TaskCompletionSource<Response>(TaskCreationOptions.RunContinuationsAsynchronously);
        uint streamId;
        await _sendLock.WaitAsync(callCts.Token).ConfigureAwait(false);
        try
        {
            ThrowIfClosed();
            long id = _nextStreamId;
            if (id > uint.MaxValue) throw new TtrpcException(StatusCode.ResourceExhausted, "stream ids exhausted on this connection");
            _nextStreamId = id + 2;
            streamId = (uint)id;
            _pending[streamId] = tcs;
            try
            {
                await _writer.WriteAsync(streamId, TtrpcMessageType.Request, 0, bytes, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or NotSupportedException)
            {
                _pending.TryRemove(streamId, out _);
                Close("write failed: " + e.Message);
                throw new TtrpcException(StatusCode.Unavailable, "ttrpc: connection closed: " + e.Message, e);
            }
        }
        finally
        {
            _sendLock.Release();
        }

        // A close that raced with registration must not leave this call hanging.
        if (_closeReason is { } reason && _pending.TryRemove(streamId, out _))
            throw new TtrpcException(StatusCode.Unavailable, "ttrpc: connection closed: " + reason);

        Response response;
        try
        {
            response = await tcs.Task.WaitAsync(callCts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (callCts.IsCancellationRequested)
        {
            _pending.TryRemove(streamId, out _);
            if (!cancellationToken.IsCancellationRequested)
                throw new TtrpcException(StatusCode.DeadlineExceeded, "context deadline exceeded");
            throw;
        }
        if (response.Status is { Code: not 0 } status)
            throw new TtrpcException((StatusCode)status.Code, status.Message);
        return response.Payload.Memory;
    }

    private void ThrowIfClosed()
    {
        if (_closeReason is { } reason) throw new TtrpcException(StatusCode.Unavailable, "ttrpc: connection closed: " + reason);
    }

    private async Task ReadLoopAsync()
    {
        string reason = "closed by peer";
        try
        {
            while (!_closed.IsCancellationRequested)
            {
                var frame = await _reader.ReadFrameAsync(_closed.Token).ConfigureAwait(false);
                if (frame is null) break;
                var header = frame.Header;
                if (frame.Oversize)
                {
                    reason = $"protocol error: peer sent a frame of {header.Length} bytes (maximum {FrameHeader.MaxDataLength})";
                    if (_pending.TryRemove(header.StreamId, out var victim))
                    {
                        victim.TrySetException(new TtrpcException(StatusCode.ResourceExhausted,
                            $"message length {header.Length} exceed maximum message size of {FrameHeader.MaxDataLength}"));
                    }
                    break;
                }
                if (header.Type != TtrpcMessageType.Response) continue;
                if (!_pending.TryRemove(header.StreamId, out var tcs)) continue; // unknown or abandoned call
                Response response;
                try
                {
                    response = Response.Parser.ParseFrom(frame.Data.Span);
                }
                catch (InvalidProtocolBufferException e)
                {
                    tcs.TrySetException(new TtrpcProtocolException("unmarshal response envelope error: " + e.Message, e));
                    continue;
                }
                tcs.TrySetResult(response);
            }
        }
        catch (OperationCanceledException) when (_closed.IsCancellationRequested)
        {
            reason = "client disposed";
        }
        catch (Exception e)
        {
            reason = e.Message;
            if (_logger.IsEnabled(LogLevel.Debug)) _logger.LogDebug("ttrpc client read loop ended: {Message}", e.Message);
        }
        Close(reason);
    }

    private void Close(string reason)
    {
        _closeReason ??= reason;
        foreach (var key in _pending.Keys)
        {
            if (_pending.TryRemove(key, out var tcs))
                tcs.TrySetException(new TtrpcException(StatusCode.Unavailable, "ttrpc: connection closed: " + _closeReason));
        }
    }

    /// <summary>Fails pending calls with UNAVAILABLE and disposes the stream.</summary>
    public async ValueTask DisposeAsync()
    {
        Close("client disposed");
        await _closed.CancelAsync().ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
        try { await _readLoop.ConfigureAwait(false); } catch { /* already reported to callers */ }
        _closed.Dispose();
    }
}
