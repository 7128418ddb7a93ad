using System.Net.Sockets;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sandbox.Ttrpc.Protocol;

namespace Sandbox.Ttrpc;

/// <summary>
/// A ttrpc server: unary calls only. One connection = one <see cref="Stream"/>; each connection has one reader loop,
/// requests are dispatched concurrently, responses are written one whole frame at a time.
/// Handlers are registered before serving; registration is not thread-safe against serving.
/// </summary>
public sealed class TtrpcServer
{
    /// <summary>Requests in flight per connection beyond which new ones get RESOURCE_EXHAUSTED.</summary>
    public const int DefaultMaxConcurrentRequests = 1024;

    private readonly Dictionary<string, Dictionary<string, Func<ReadOnlyMemory<byte>, TtrpcCallContext, ValueTask<ReadOnlyMemory<byte>>>>> _services =
        new(StringComparer.Ordinal);
    private readonly ILogger _logger;

    public TtrpcServer(ILogger? logger = null) => _logger = logger ?? NullLogger.Instance;

    public int MaxConcurrentRequests { get; init; } = DefaultMaxConcurrentRequests;

    /// <summary>Registers a handler that answers with a message (serialized by the server).</summary>
    public void Register(string service, string method, Func<ReadOnlyMemory<byte>, TtrpcCallContext, ValueTask<IMessage>> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        Add(service, method, async (payload, ctx) => (await handler(payload, ctx).ConfigureAwait(false)).ToByteArray());
    }

    /// <summary>Registers a handler that answers with raw, already serialized payload bytes.</summary>
    public void RegisterRaw(string service, string method, Func<ReadOnlyMemory<byte>, TtrpcCallContext, ValueTask<byte[]>> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        Add(service, method, async (payload, ctx) => await handler(payload, ctx).ConfigureAwait(false));
    }

    /// <summary>Registers a typed handler: the payload is parsed with <paramref name="parser"/>.</summary>
    public void Register<TRequest, TResponse>(string service, string method, MessageParser<TRequest> parser,
        Func<TRequest, TtrpcCallContext, ValueTask<TResponse>> handler)
        where TRequest : IMessage<TRequest>
        where TResponse : IMessage<TResponse>
    {
        ArgumentNullException.ThrowIfNull(parser);
        ArgumentNullException.ThrowIfNull(handler);
        Add(service, method, async (payload, ctx) =>
        {
            TRequest request;
            try
            {
                request = parser.ParseFrom(payload.Span);
            }
            catch (InvalidProtocolBufferException e)
            {
                throw new TtrpcException(StatusCode.InvalidArgument, "unmarshal request error: " + e.Message);
            }
            var response = await handler(request, ctx).ConfigureAwait(false);
            return response.ToByteArray();
        });
    }

    private void Add(string service, string method, Func<ReadOnlyMemory<byte>, TtrpcCallContext, ValueTask<ReadOnlyMemory<byte>>> handler)
    {
        ArgumentException.ThrowIfNullOrEmpty(service);
        ArgumentException.ThrowIfNullOrEmpty(method);
        if (!_services.TryGetValue(service, out var methods))
        {
            _services[service] = methods = new Dictionary<string, Func<ReadOnlyMemory<byte>, TtrpcCallContext, ValueTask<ReadOnlyMemory<byte>>>>(StringComparer.Ordinal);
        }
        if (!methods.TryAdd(method, handler)) throw new InvalidOperationException($"{service}/{method} is already registered");
    }

    /// <summary>Accepts connections on a listening socket until cancelled; each is served on its own.</summary>
    public async Task ServeAsync(Socket listener, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(listener);
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket accepted;
            try
            {
                accepted = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            _ = Task.Run(async () =>
            {
                await using var stream = new NetworkStream(accepted, ownsSocket: true);
                await ServeConnectionAsync(stream, cancellationToken).ConfigureAwait(false);
            }, CancellationToken.None);
        }
    }

    /// <summary>
    /// Serves one connection until the peer closes it (or a broken frame, or cancellation). In-flight handlers are
    /// cancelled when it ends and their responses dropped. Does not dispose <paramref name="stream"/>.
    /// </summary>
    public async Task ServeConnectionAsync(Stream stream, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var connectionCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var connection = new Connection(this, stream, connectionCts.Token);
        try
        {
            await connection.ReadLoopAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (connectionCts.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is IOException or TtrpcProtocolException or SocketException or ObjectDisposedException)
        {
            if (_logger.IsEnabled(LogLevel.Debug)) _logger.LogDebug("ttrpc connection ended: {Message}", e.Message);
        }
        finally
        {
            await connectionCts.CancelAsync().ConfigureAwait(false);
        }
    }

    private sealed class Connection(TtrpcServer server, Stream stream, CancellationToken token)
    {
        private readonly FrameReader _reader = new(stream);
        private readonly FrameWriter _writer = new(stream);
        private uint _lastStreamId;
        private int _inFlight;

        public async Task ReadLoopAsync()
        {
            while (true)
            {
                var frame = await _reader.ReadFrameAsync(token).ConfigureAwait(false);
                if (frame is null) return;
                var header = frame.Header;
                if (header.Type != TtrpcMessageType.Request) continue; // ignore unknown / non-request frames
                if (frame.Oversize)
                {
                    _ = SendStatusAsync(header.StreamId, StatusCode.ResourceExhausted,
                        $"message length {header.Length} exceed maximum message size of {FrameHeader.MaxDataLength}");
                    continue;
                }
                if ((header.StreamId & 1) == 0)
                {
                    _ = SendStatusAsync(header.StreamId, StatusCode.InvalidArgument, "StreamID must be odd for client initiated streams");
                    continue;
                }
                if (header.StreamId <= _lastStreamId)
                {
                    _ = SendStatusAsync(header.StreamId, StatusCode.InvalidArgument, "StreamID cannot be re-used and must increment");
                    continue;
                }
                _lastStreamId = header.StreamId;
                Request request;
                try
                {
                    request = Request.Parser.ParseFrom(frame.Data.Span);
                }
                catch (InvalidProtocolBufferException e)
                {
                    _ = SendStatusAsync(header.StreamId, StatusCode.InvalidArgument, "unmarshal request error: " + e.Message);
                    continue;
                }
                if (Interlocked.Increment(ref _inFlight) > server.MaxConcurrentRequests)
                {
                    Interlocked.Decrement(ref _inFlight);
                    _ = SendStatusAsync(header.StreamId, StatusCode.ResourceExhausted, "too many concurrent requests");
                    continue;
                }
                _ = Task.Run(() => DispatchAsync(header.StreamId, request), CancellationToken.None);
            }
        }

        private async Task DispatchAsync(uint streamId, Request request)
        {
            TimeSpan? timeout = request.TimeoutNano > 0 ? TimeSpan.FromTicks(Math.Max(1, request.TimeoutNano / 100)) : null;
            using var callCts = CancellationTokenSource.CreateLinkedTokenSource(token);
            if (timeout is { } t) callCts.CancelAfter(t);
            var metadata = request.Metadata.Count == 0
                ? (IReadOnlyList<KeyValuePair<string, string>>)[]
                : request.Metadata.Select(kv => new KeyValuePair<string, string>(kv.Key, kv.Value)).ToArray();
            var ctx = new TtrpcCallContext(request.Service, request.Method, streamId, timeout, metadata, callCts.Token);
            Response response;
            try
            {
                response = await InvokeAsync(request, ctx).ConfigureAwait(false);
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
            if (token.IsCancellationRequested)
            {
                ctx.RunResponseSent();
                return; // connection gone: drop the response
            }
            try
            {
                var bytes = response.ToByteArray();
                if (bytes.Length > FrameHeader.MaxDataLength)
                {
                    bytes = StatusResponse(StatusCode.ResourceExhausted,
                        $"message length {bytes.Length} exceed maximum message size of {FrameHeader.MaxDataLength}").ToByteArray();
                }
                await _writer.WriteAsync(streamId, TtrpcMessageType.Response, 0, bytes, token).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                if (server._logger.IsEnabled(LogLevel.Debug)) server._logger.LogDebug("ttrpc response on stream {StreamId} not sent: {Message}", streamId, e.Message);
            }
            finally
            {
                ctx.RunResponseSent();
            }
        }

        private async Task<Response> InvokeAsync(Request request, TtrpcCallContext ctx)
        {
            if (!server._services.TryGetValue(request.Service, out var methods))
                return StatusResponse(StatusCode.Unimplemented, "service " + request.Service);
            if (!methods.TryGetValue(request.Method, out var handler))
                return StatusResponse(StatusCode.Unimplemented, "method " + request.Method);
            try
            {
                var payload = await handler(request.Payload.Memory, ctx).ConfigureAwait(false);
                return new Response { Payload = UnsafeByteOperations.UnsafeWrap(payload) };
            }
            catch (TtrpcException e)
            {
                return StatusResponse(e.Code, e.StatusMessage);
            }
            catch (OperationCanceledException) when (ctx.CancellationToken.IsCancellationRequested)
            {
                return token.IsCancellationRequested
                    ? StatusResponse(StatusCode.Cancelled, "context canceled")
                    : StatusResponse(StatusCode.DeadlineExceeded, "context deadline exceeded");
            }
            catch (Exception e)
            {
                if (server._logger.IsEnabled(LogLevel.Debug)) server._logger.LogDebug(e, "ttrpc handler {Service}/{Method} failed", request.Service, request.Method);
                return StatusResponse(StatusCode.Unknown, e.Message);
            }
        }

        private static Response StatusResponse(StatusCode code, string message) =>
            new() { Status = new Status { Code = (int)code, Message = message } };

        private async Task SendStatusAsync(uint streamId, StatusCode code, string message)
        {
            try
            {
                await _writer.WriteAsync(streamId, TtrpcMessageType.Response, 0, StatusResponse(code, message).ToByteArray(), token)
                    .ConfigureAwait(false);
            }
            catch (Exception e)
            {
                if (server._logger.IsEnabled(LogLevel.Debug)) server._logger.LogDebug("ttrpc status on stream {StreamId} not sent: {Message}", streamId, e.Message);
            }
        }
    }
}
