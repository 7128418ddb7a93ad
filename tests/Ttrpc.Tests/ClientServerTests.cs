using System.Net.Sockets;
using Google.Protobuf;
using Sandbox.Ttrpc.Protocol;

namespace Sandbox.Ttrpc.Tests;

#pragma warning disable CA1001 // xunit disposes through IAsyncLifetime
public sealed class ClientServerTests : IAsyncLifetime
{
    private const string Svc = "test.v1.Echo";
    private readonly TtrpcServer _server = new();
    private NetworkStream _serverStream = null!;
    private TtrpcClient _client = null!;
    private Task _serving = null!;

    public Task InitializeAsync()
    {
        _server.Register<KeyValue, KeyValue>(Svc, "Echo", KeyValue.Parser, (req, _) => ValueTask.FromResult(new KeyValue { Key = req.Key, Value = req.Value }));
        _server.Register<KeyValue, KeyValue>(Svc, "Delay", KeyValue.Parser, async (req, ctx) =>
        {
            await Task.Delay(int.Parse(req.Value), ctx.CancellationToken);
            return req;
        });
        _server.Register<KeyValue, KeyValue>(Svc, "Forever", KeyValue.Parser, async (req, ctx) =>
        {
            await Task.Delay(Timeout.Infinite, ctx.CancellationToken);
            return req;
        });
        _server.Register<KeyValue, KeyValue>(Svc, "Fail", KeyValue.Parser, (req, _) =>
            throw new TtrpcException((StatusCode)int.Parse(req.Key), req.Value));
        _server.Register<KeyValue, KeyValue>(Svc, "Crash", KeyValue.Parser, (req, _) => throw new InvalidOperationException(req.Value));
        _server.Register(Svc, "Untyped", (payload, ctx) => ValueTask.FromResult<IMessage>(new KeyValue { Key = ctx.Method, Value = payload.Length.ToString() }));
        _server.RegisterRaw(Svc, "Raw", (payload, _) => ValueTask.FromResult(payload.ToArray().Reverse().ToArray()));
        _server.Register<KeyValue, KeyValue>(Svc, "Meta", KeyValue.Parser, (_, ctx) =>
            ValueTask.FromResult(new KeyValue { Key = string.Join(",", ctx.Metadata.Select(kv => kv.Key + "=" + kv.Value)), Value = ctx.Timeout?.TotalSeconds.ToString() ?? "none" }));
        _server.RegisterRaw(Svc, "Huge", (_, _) => ValueTask.FromResult(new byte[FrameHeader.MaxDataLength + 10]));
        var (a, b) = SocketPair.Create();
        _serverStream = a;
        _serving = _server.ServeConnectionAsync(a);
        _client = new TtrpcClient(b);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _client.DisposeAsync();
        await _serving.WaitAsync(TimeSpan.FromSeconds(10));
        await _serverStream.DisposeAsync();
    }

    private Task<KeyValue> Call(string method, string key = "", string value = "", TtrpcCallOptions? options = null, CancellationToken ct = default) =>
        _client.CallAsync(Svc, method, new KeyValue { Key = key, Value = value }, KeyValue.Parser, options, ct);

    [Fact]
    public async Task Echo_RoundTrips()
    {
        var r = await Call("Echo", "k", "v");
        Assert.Equal("k", r.Key);
        Assert.Equal("v", r.Value);
    }

    [Fact]
    public async Task UntypedAndRawHandlers()
    {
        var r = await Call("Untyped", "abc");
        Assert.Equal("Untyped", r.Key);
        Assert.Equal("5", r.Value);
        var raw = await _client.CallRawAsync(Svc, "Raw", new byte[] { 1, 2, 3 });
        Assert.Equal(new byte[] { 3, 2, 1 }, raw.ToArray());
    }

    [Fact]
    public async Task MetadataAndTimeout_ReachTheHandler()
    {
        var r = await Call("Meta", options: new TtrpcCallOptions
        {
            Timeout = TimeSpan.FromSeconds(30),
            Metadata = [new("containerd-namespace-ttrpc", "default"), new("a", "1"), new("a", "2")],
        });
        Assert.Equal("containerd-namespace-ttrpc=default,a=1,a=2", r.Key);
        Assert.Equal("30", r.Value);
        Assert.Equal("none", (await Call("Meta")).Value);
    }

    [Fact]
    public async Task HundredConcurrentCalls_AnsweredOutOfOrder()
    {
        var rnd = new Random(42);
        var calls = Enumerable.Range(0, 100).Select(i => (i, delay: rnd.Next(0, 200))).ToArray();
        var completionOrder = new List<int>();
        var tasks = calls.Select(async c =>
        {
            var r = await Call("Delay", c.i.ToString(), c.delay.ToString());
            lock (completionOrder) completionOrder.Add(c.i);
            return r;
        }).ToArray();
        var results = await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(20));
        for (int i = 0; i < 100; i++) Assert.Equal(i.ToString(), results[i].Key);
        Assert.NotEqual(Enumerable.Range(0, 100), completionOrder); // answers did come back out of order
    }

    [Fact]
    public async Task UnknownServiceAndMethod_AreUnimplemented()
    {
        var e1 = await Assert.ThrowsAsync<TtrpcException>(() => _client.CallAsync("no.Such", "X", new KeyValue(), KeyValue.Parser));
        Assert.Equal(StatusCode.Unimplemented, e1.Code);
        Assert.Equal("service no.Such", e1.Message);
        var e2 = await Assert.ThrowsAsync<TtrpcException>(() => Call("Nope"));
        Assert.Equal(StatusCode.Unimplemented, e2.Code);
        Assert.Equal("method Nope", e2.Message);
    }

    [Fact]
    public async Task HandlerExceptions_BecomeStatuses()
    {
        var e1 = await Assert.ThrowsAsync<TtrpcException>(() => Call("Fail", "5", "process already finished: not found"));
        Assert.Equal(StatusCode.NotFound, e1.Code);
        Assert.Equal("process already finished: not found", e1.StatusMessage);
        var e2 = await Assert.ThrowsAsync<TtrpcException>(() => Call("Crash", value: "boom"));
        Assert.Equal(StatusCode.Unknown, e2.Code);
        Assert.Equal("boom", e2.Message);
        Assert.Equal("k", (await Call("Echo", "k")).Key); // connection still fine
    }

    [Fact]
    public async Task Timeout_IsSentAndHonouredByTheServer()
    {
        var e = await Assert.ThrowsAsync<TtrpcException>(() => Call("Forever", options: new TtrpcCallOptions { Timeout = TimeSpan.FromMilliseconds(200) }));
        Assert.Equal(StatusCode.DeadlineExceeded, e.Code);
    }

    [Fact]
    public async Task ServerAnswersDeadlineExceeded_OnTimeoutNano()
    {
        await using var raw = await RawConnection.StartAsync(_server);
        var req = new Request { Service = Svc, Method = "Forever", Payload = new KeyValue().ToByteString(), TimeoutNano = 100_000_000 };
        await raw.SendAsync(1, TtrpcMessageType.Request, req.ToByteArray());
        var (header, response) = await raw.ReceiveAsync();
        Assert.Equal(1u, header.StreamId);
        Assert.Equal((int)StatusCode.DeadlineExceeded, response.Status.Code);
    }

    [Fact]
    public async Task CallerCancellation_ThrowsOperationCanceled()
    {
        using var cts = new CancellationTokenSource(100);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Call("Forever", ct: cts.Token));
        Assert.Equal("x", (await Call("Echo", "x")).Key);
    }

    [Fact]
    public async Task ConnectionLoss_FailsPendingAndLaterCallsWithUnavailable()
    {
        var pending = Enumerable.Range(0, 5).Select(_ => Call("Forever")).ToArray();
        await Task.Delay(100);
        _serverStream.Socket.Shutdown(SocketShutdown.Both);
        foreach (var p in pending)
        {
            var e = await Assert.ThrowsAsync<TtrpcException>(() => p.WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Equal(StatusCode.Unavailable, e.Code);
        }
        await _client.Completion.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(_client.IsClosed);
        var later = await Assert.ThrowsAsync<TtrpcException>(() => Call("Echo"));
        Assert.Equal(StatusCode.Unavailable, later.Code);
    }

    [Fact]
    public async Task Client_RefusesToSendOverFourMiB()
    {
        var e = await Assert.ThrowsAsync<TtrpcException>(() => Call("Echo", value: new string('x', FrameHeader.MaxDataLength)));
        Assert.Equal(StatusCode.ResourceExhausted, e.Code);
        Assert.Equal("k", (await Call("Echo", "k")).Key);
    }

    [Fact]
    public async Task Server_RefusesToSendOverFourMiB()
    {
        var e = await Assert.ThrowsAsync<TtrpcException>(() => _client.CallRawAsync(Svc, "Huge", ReadOnlyMemory<byte>.Empty));
        Assert.Equal(StatusCode.ResourceExhausted, e.Code);
    }

    [Fact]
    public async Task Server_AnswersOversizeFrameWithResourceExhausted_AndKeepsServing()
    {
        await using var raw = await RawConnection.StartAsync(_server);
        var big = new byte[FrameHeader.MaxDataLength + 1];
        await raw.SendAsync(1, TtrpcMessageType.Request, big);
        var (h1, r1) = await raw.ReceiveAsync();
        Assert.Equal(1u, h1.StreamId);
        Assert.Equal((int)StatusCode.ResourceExhausted, r1.Status.Code);
        Assert.Equal("message length 4194305 exceed maximum message size of 4194304", r1.Status.Message);
        await raw.SendAsync(3, TtrpcMessageType.Request, EchoRequest("after"));
        var (h2, r2) = await raw.ReceiveAsync();
        Assert.Equal(3u, h2.StreamId);
        Assert.Equal("after", KeyValue.Parser.ParseFrom(r2.Payload).Key);
    }

    [Fact]
    public async Task Server_RejectsEvenAndReusedStreamIds()
    {
        await using var raw = await RawConnection.StartAsync(_server);
        await raw.SendAsync(2, TtrpcMessageType.Request, EchoRequest("even"));
        var (h1, r1) = await raw.ReceiveAsync();
        Assert.Equal(2u, h1.StreamId);
        Assert.Equal((int)StatusCode.InvalidArgument, r1.Status.Code);
        Assert.Equal("StreamID must be odd for client initiated streams", r1.Status.Message);

        await raw.SendAsync(5, TtrpcMessageType.Request, EchoRequest("five"));
        Assert.Null((await raw.ReceiveAsync()).Response.Status);
        await raw.SendAsync(3, TtrpcMessageType.Request, EchoRequest("three"));
        var (h3, r3) = await raw.ReceiveAsync();
        Assert.Equal(3u, h3.StreamId);
        Assert.Equal((int)StatusCode.InvalidArgument, r3.Status.Code);
        Assert.Equal("StreamID cannot be re-used and must increment", r3.Status.Message);
    }

    [Fact]
    public async Task Server_IgnoresNonRequestFrames_AndRejectsGarbageEnvelopes()
    {
        await using var raw = await RawConnection.StartAsync(_server);
        await raw.SendAsync(1, TtrpcMessageType.Response, [1, 2, 3]);
        await raw.SendAsync(3, TtrpcMessageType.Data, []);
        await raw.SendAsync(5, TtrpcMessageType.Request, [0xff, 0xff, 0xff]);
        var (h, r) = await raw.ReceiveAsync();
        Assert.Equal(5u, h.StreamId);
        Assert.Equal((int)StatusCode.InvalidArgument, r.Status.Code);
        Assert.StartsWith("unmarshal request error: ", r.Status.Message);
    }

    [Fact]
    public async Task Server_SurvivesAGarbageRequestPayload()
    {
        await using var raw = await RawConnection.StartAsync(_server);
        var req = new Request { Service = Svc, Method = "Echo", Payload = ByteString.CopyFrom(0xff, 0xff) };
        await raw.SendAsync(1, TtrpcMessageType.Request, req.ToByteArray());
        var (_, r) = await raw.ReceiveAsync();
        Assert.Equal((int)StatusCode.InvalidArgument, r.Status.Code);
    }

    private static byte[] EchoRequest(string key) =>
        new Request { Service = Svc, Method = "Echo", Payload = new KeyValue { Key = key }.ToByteString() }.ToByteArray();

    /// <summary>A hand-driven peer speaking raw frames to a server.</summary>
    internal sealed class RawConnection : IAsyncDisposable
    {
        private readonly NetworkStream _mine;
        private readonly NetworkStream _theirs;
        private readonly Task _serving;
        private readonly FrameReader _reader;

        private RawConnection(NetworkStream mine, NetworkStream theirs, Task serving)
        {
            _mine = mine;
            _theirs = theirs;
            _serving = serving;
            _reader = new FrameReader(mine);
        }

        public static Task<RawConnection> StartAsync(TtrpcServer server)
        {
            var (a, b) = SocketPair.Create();
            return Task.FromResult(new RawConnection(a, b, server.ServeConnectionAsync(b)));
        }

        public async Task SendAsync(uint id, byte type, byte[] data)
        {
            var header = new byte[FrameHeader.Size];
            new FrameHeader((uint)data.Length, id, type, 0).WriteTo(header);
            await _mine.WriteAsync(header);
            await _mine.WriteAsync(data);
        }

        public async Task<(FrameHeader Header, Response Response)> ReceiveAsync()
        {
            var frame = await _reader.ReadFrameAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.NotNull(frame);
            Assert.Equal(TtrpcMessageType.Response, frame.Header.Type);
            return (frame.Header, Response.Parser.ParseFrom(frame.Data.Span));
        }

        public async ValueTask DisposeAsync()
        {
            await _mine.DisposeAsync();
            await _serving.WaitAsync(TimeSpan.FromSeconds(10));
            await _theirs.DisposeAsync();
        }
    }
}
