using Google.Protobuf;
using Sandbox.AgentProtocol.V1;
using Sandbox.Isolation.Agent;
using Sandbox.Ttrpc;
using Sandbox.Ttrpc.Protocol;

namespace Sandbox.Fuzz.Tests;

/// <summary>The agent protocol: every message type parsed from arbitrary bytes (InvalidProtocolBufferException only),
/// and the host's AgentClient reading answers from an agent that lies (the agent runs next to untrusted code): every
/// bad answer must be an AgentProtocolException or a TtrpcException (the call's status), never anything else.</summary>
[Collection("fuzz")]
public sealed class AgentProtocolFuzzTests
{
    private static readonly MessageParser[] s_parsers = typeof(PingRequest).Assembly.GetTypes()
        .Where(t => typeof(IMessage).IsAssignableFrom(t) && t.GetProperty("Parser") is not null)
        .Select(t => (MessageParser)t.GetProperty("Parser")!.GetValue(null)!)
        .ToArray();

    private static readonly IMessage[] s_answers =
    [
        new PingResponse { Pid = 1, Version = "1", Kernel = "6.1" },
        new ReadFileResponse { Data = ByteString.CopyFromUtf8("content"), Eof = true },
        new ListDirResponse { Entries = { new DirEntry { Name = "a", Type = DirEntryType.File, Size = 3, Mode = 0x1a4 } }, Truncated = false },
        new WaitResponse { ExitCode = 3, Signal = 0 },
        new StatsResponse(),
    ];

    [Fact]
    public void EveryMessageType_ParsesOrRefuses()
    {
        Assert.True(s_parsers.Length >= 20, $"expected the agent protocol's message types, found {s_parsers.Length}");
        var corpus = s_answers.Select(a => a.ToByteArray()).Where(b => b.Length > 0).ToList();
        FuzzHarness.Run("agent messages", CsCheck.Gen.Select(Mutations.Of(corpus), CsCheck.Gen.Int[0, s_parsers.Length - 1]),
            input => s_parsers[input.Item2].ParseFrom(input.Item1), [typeof(InvalidProtocolBufferException)], input => input.Item1.Length);
    }

    [Fact]
    public void HostReadsLyingAnswers()
    {
        var corpus = s_answers.Select(a => TtrpcFraming.Encode(1, TtrpcMessageType.Response, 0,
            new Response { Payload = a.ToByteString() }.ToByteArray())).ToList();
        FuzzHarness.Run("agent answers", CsCheck.Gen.Select(Mutations.Of(corpus), CsCheck.Gen.Int[0, 4]), input =>
        {
            var agent = AgentClient.Create(new ScriptedStream(input.Item1, input.Item1.Length));
            try
            {
                Task call = input.Item2 switch
                {
                    0 => agent.PingAsync(),
                    1 => agent.ReadFileAsync(new ReadFileRequest { Path = "/work/x", MaxBytes = 100 }),
                    2 => agent.ListDirAsync(new ListDirRequest { Path = "/work", MaxEntries = 10 }),
                    3 => agent.WaitAsync(new WaitRequest { ExecId = "e1" }),
                    _ => agent.StatsAsync(),
                };
                call.GetAwaiter().GetResult();
            }
            finally
            {
                agent.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }, [typeof(AgentProtocolException), typeof(TtrpcException)], input => input.Item1.Length);
    }
}
