using Sandbox.Ttrpc.Protocol;

namespace Sandbox.Ttrpc.Tests;

/// <summary>A client that takes over a connection whose server has already seen stream ids (a microVM restored from a
/// snapshot taken after the host's first Ping) starts above them.</summary>
public sealed class FirstStreamIdTests
{
    [Fact]
    public async Task Client_starts_at_the_given_odd_id_and_the_server_accepts_it()
    {
        var server = new TtrpcServer();
        server.Register<KeyValue, KeyValue>("t.v1.S", "Id", KeyValue.Parser, (_, ctx) => ValueTask.FromResult(new KeyValue { Key = ctx.StreamId.ToString() }));
        var (a, b) = SocketPair.Create();
        var serving = server.ServeConnectionAsync(a);
        await using (var client = new TtrpcClient(b, 1001))
        {
            Assert.Equal("1001", (await client.CallAsync("t.v1.S", "Id", new KeyValue(), KeyValue.Parser)).Key);
            Assert.Equal("1003", (await client.CallAsync("t.v1.S", "Id", new KeyValue(), KeyValue.Parser)).Key);
        }
        await serving.WaitAsync(TimeSpan.FromSeconds(10));
        await a.DisposeAsync();
        Assert.Throws<ArgumentOutOfRangeException>(() => new TtrpcClient(new MemoryStream(), 1000));
    }
}
