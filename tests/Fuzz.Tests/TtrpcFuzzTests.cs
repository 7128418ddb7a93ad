using Google.Protobuf;
using Sandbox.Ttrpc;
using Sandbox.Ttrpc.Protocol;

namespace Sandbox.Fuzz.Tests;

/// <summary>ttrpc in both directions: a server reading what a client (a shim's caller; in the agent, the host) sends,
/// and a client reading what a server (the agent: untrusted) answers. The server never throws for bad bytes (it ends
/// the connection); a client call ends with a TtrpcException (or its answer).</summary>
[Collection("fuzz")]
public sealed class TtrpcFuzzTests
{
    private static byte[] Frame(uint stream, byte type, byte flags, IMessage message) =>
        TtrpcFraming.Encode(stream, type, flags, message.ToByteArray());

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    private static readonly byte[][] s_requests =
    [
        Frame(1, TtrpcMessageType.Request, 0, new Request { Service = "svc", Method = "echo", Payload = ByteString.CopyFromUtf8("hello") }),
        Concat(
            Frame(1, TtrpcMessageType.Request, 0, new Request { Service = "svc", Method = "echo", TimeoutNano = 1_000_000_000 }),
            Frame(3, TtrpcMessageType.Request, 0, new Request { Service = "svc", Method = "missing" }),
            Frame(5, TtrpcMessageType.Request, 0, new Request { Service = "svc", Method = "echo", Metadata = { new KeyValue { Key = "k", Value = "v" } } })),
    ];

    private static readonly byte[][] s_responses =
    [
        Frame(1, TtrpcMessageType.Response, 0, new Response { Payload = ByteString.CopyFromUtf8("answer") }),
        Frame(1, TtrpcMessageType.Response, 0, new Response { Status = new Status { Code = 5, Message = "not found" } }),
        Concat(Frame(7, TtrpcMessageType.Data, 0, new Response()), Frame(1, TtrpcMessageType.Response, 0, new Response())),
    ];

    [Fact]
    public void ServerReadsRequests() =>
        FuzzHarness.RunBytes("ttrpc server", Mutations.Of(s_requests), bytes =>
        {
            var server = new TtrpcServer();
            server.RegisterRaw("svc", "echo", (payload, _) => ValueTask.FromResult(payload.ToArray()));
            server.ServeConnectionAsync(new ScriptedStream(bytes, bytes.Length)).GetAwaiter().GetResult();
        }, []);

    [Fact]
    public void ClientReadsResponses() =>
        FuzzHarness.RunBytes("ttrpc client", Mutations.Of(s_responses), bytes =>
        {
            var client = new TtrpcClient(new ScriptedStream(bytes, bytes.Length));
            try
            {
                client.CallRawAsync("svc", "echo", "hi"u8.ToArray()).GetAwaiter().GetResult();
            }
            finally
            {
                client.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }, [typeof(TtrpcException)]);
}
