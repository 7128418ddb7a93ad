using Google.Protobuf;
using Sandbox.Ttrpc.Protocol;

namespace Sandbox.Ttrpc.Tests;

/// <summary>The client against a hand-written (possibly hostile) server.</summary>
public class FakeServerTests
{
    [Fact]
    public async Task Client_UsesOddIncreasingIds_AndMatchesReversedAnswers()
    {
        var (mine, theirs) = SocketPair.Create();
        await using var client = new TtrpcClient(theirs);
        var calls = Enumerable.Range(0, 3).Select(i => client.CallAsync("s", "m", new KeyValue { Key = i.ToString() }, KeyValue.Parser)).ToArray();
        var reader = new FrameReader(mine);
        var requests = new List<(uint Id, Request Req)>();
        for (int i = 0; i < 3; i++)
        {
            var f = (await reader.ReadFrameAsync())!;
            Assert.Equal(TtrpcMessageType.Request, f.Header.Type);
            Assert.Equal(0, f.Header.Flags);
            requests.Add((f.Header.StreamId, Request.Parser.ParseFrom(f.Data.Span)));
        }
        Assert.Equal(new uint[] { 1, 3, 5 }, requests.Select(r => r.Id).ToArray());
        var writer = new FrameWriter(mine);
        foreach (var (id, req) in Enumerable.Reverse(requests))
        {
            var key = KeyValue.Parser.ParseFrom(req.Payload).Key;
            await writer.WriteAsync(id, TtrpcMessageType.Response, 0, new Response { Payload = new KeyValue { Key = key, Value = "answer" + id }.ToByteString() }.ToByteArray());
        }
        var results = await Task.WhenAll(calls).WaitAsync(TimeSpan.FromSeconds(10));
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(i.ToString(), results[i].Key);
            Assert.Equal("answer" + (2 * i + 1), results[i].Value);
        }
        await mine.DisposeAsync();
    }

    [Fact]
    public async Task Client_TreatsOversizeFrameAsProtocolError()
    {
        var (mine, theirs) = SocketPair.Create();
        await using var client = new TtrpcClient(theirs);
        var first = client.CallAsync("s", "m", new KeyValue(), KeyValue.Parser);
        var second = client.CallAsync("s", "m", new KeyValue(), KeyValue.Parser);
        var reader = new FrameReader(mine);
        await reader.ReadFrameAsync();
        await reader.ReadFrameAsync();
        var header = new byte[FrameHeader.Size];
        new FrameHeader(FrameHeader.MaxDataLength + 1, 1, TtrpcMessageType.Response, 0).WriteTo(header);
        await mine.WriteAsync(header);
        await mine.WriteAsync(new byte[FrameHeader.MaxDataLength + 1]);
        var e1 = await Assert.ThrowsAsync<TtrpcException>(() => first.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(StatusCode.ResourceExhausted, e1.Code);
        var e2 = await Assert.ThrowsAsync<TtrpcException>(() => second.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(StatusCode.Unavailable, e2.Code);
        Assert.True(client.IsClosed);
        await mine.DisposeAsync();
    }

    [Fact]
    public async Task Client_IgnoresUnknownIds_AndReportsBadPayloadsAsProtocolErrors()
    {
        var (mine, theirs) = SocketPair.Create();
        await using var client = new TtrpcClient(theirs);
        var call = client.CallAsync("s", "m", new KeyValue(), KeyValue.Parser);
        var reader = new FrameReader(mine);
        var f = (await reader.ReadFrameAsync())!;
        var writer = new FrameWriter(mine);
        await writer.WriteAsync(99, TtrpcMessageType.Response, 0, new Response().ToByteArray()); // nobody asked
        await writer.WriteAsync(f.Header.StreamId, TtrpcMessageType.Response, 0,
            new Response { Payload = ByteString.CopyFrom(0xff, 0xff, 0xff) }.ToByteArray());
        var e = await Assert.ThrowsAsync<TtrpcProtocolException>(() => call.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(StatusCode.Internal, e.Code);
        Assert.False(client.IsClosed);
        await mine.DisposeAsync();
    }

    [Fact]
    public async Task Client_ErrorStatusCarriesCodeAndMessage()
    {
        var (mine, theirs) = SocketPair.Create();
        await using var client = new TtrpcClient(theirs);
        var call = client.CallAsync("s", "m", new KeyValue(), KeyValue.Parser);
        var f = (await new FrameReader(mine).ReadFrameAsync())!;
        await new FrameWriter(mine).WriteAsync(f.Header.StreamId, TtrpcMessageType.Response, 0,
            new Response { Status = new Status { Code = 5, Message = "container not created: not found" } }.ToByteArray());
        var e = await Assert.ThrowsAsync<TtrpcException>(() => call.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(StatusCode.NotFound, e.Code);
        Assert.Equal("container not created: not found", e.StatusMessage);
        await mine.DisposeAsync();
    }
}
