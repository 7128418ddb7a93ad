using Google.Protobuf;
using Sandbox.AgentProtocol.V1;
using Sandbox.Isolation.Agent;
using Sandbox.Ttrpc;

namespace Sandbox.Agent.Tests;

/// <summary>AgentClient against a lying agent: every violation is an AgentProtocolException.</summary>
public sealed class AgentClientValidationTests
{
    private static async Task<(AgentClient Client, Task Serving)> LyingAgent(Action<TtrpcServer> register)
    {
        var server = new TtrpcServer();
        register(server);
        var (a, b) = Native.SocketPair();
        var serverStream = Native.Stream(b);
        var serving = server.ServeConnectionAsync(serverStream).ContinueWith(_ => serverStream.Dispose());
        await Task.Yield();
        return (AgentClient.Create(Native.Stream(a)), serving);
    }

    private const string S = AgentClient.ServiceName;

    [Fact]
    public async Task TooMuchOutput_IsAViolation()
    {
        var (c, serving) = await LyingAgent(s => s.Register<ReadOutputRequest, ReadOutputResponse>(S, "ReadOutput", ReadOutputRequest.Parser,
            (r, _) => ValueTask.FromResult(new ReadOutputResponse { Data = ByteString.CopyFrom(new byte[(r.MaxBytes == 0 ? 1 << 20 : r.MaxBytes) + 1]) })));
        await Assert.ThrowsAsync<AgentProtocolException>(() => c.ReadOutputAsync("x", OutputStream.Stdout, 10));
        await Assert.ThrowsAsync<AgentProtocolException>(() => c.ReadOutputAsync("x", OutputStream.Stdout, 0)); // 0 means 1 MiB: 1 byte over
        await c.DisposeAsync();
        await serving;
    }

    [Fact]
    public async Task BadPidsAndStatuses_AreViolations()
    {
        var (c, serving) = await LyingAgent(s =>
        {
            s.Register<ExecRequest, ExecResponse>(S, "Exec", ExecRequest.Parser, (_, _) => ValueTask.FromResult(new ExecResponse { Pid = 0 }));
            s.Register<PingRequest, PingResponse>(S, "Ping", PingRequest.Parser, (_, _) => ValueTask.FromResult(new PingResponse { Pid = -5 }));
            s.Register<WaitRequest, WaitResponse>(S, "Wait", WaitRequest.Parser, (_, _) => ValueTask.FromResult(new WaitResponse { ExitCode = 300 }));
            s.Register<ReadFileRequest, ReadFileResponse>(S, "ReadFile", ReadFileRequest.Parser,
                (r, _) => ValueTask.FromResult(new ReadFileResponse { Data = ByteString.CopyFrom(new byte[r.MaxBytes + 1]), Size = 1 }));
            s.Register<StatsRequest, StatsResponse>(S, "Stats", StatsRequest.Parser, (_, _) => ValueTask.FromResult(new StatsResponse { Processes = -1 }));
            s.RegisterRaw(S, "Signal", (_, _) => ValueTask.FromResult(new byte[] { 0xff, 0xff, 0xff }));
        });
        var exec = new ExecRequest { ExecId = "a" };
        exec.Argv.Add("true");
        await Assert.ThrowsAsync<AgentProtocolException>(() => c.ExecAsync(exec));
        await Assert.ThrowsAsync<AgentProtocolException>(() => c.PingAsync());
        await Assert.ThrowsAsync<AgentProtocolException>(() => c.WaitAsync("a"));
        await Assert.ThrowsAsync<AgentProtocolException>(() => c.ReadFileAsync(new ReadFileRequest { Path = "/x", MaxBytes = 3 }));
        await Assert.ThrowsAsync<AgentProtocolException>(() => c.StatsAsync());
        await Assert.ThrowsAsync<AgentProtocolException>(() => c.SignalAsync("a", 9)); // garbage payload
        await c.DisposeAsync();
        await serving;
    }

    [Theory]
    [InlineData("end-not-asked-for")]
    [InlineData("output-not-asked-for")]
    [InlineData("too-much-output")]
    [InlineData("bad-exit")]
    public async Task What_an_exec_reply_carries_beyond_what_was_asked_is_a_violation(string lie)
    {
        var (c, serving) = await LyingAgent(s => s.Register<ExecRequest, ExecResponse>(S, "Exec", ExecRequest.Parser, (r, _) =>
            ValueTask.FromResult(lie switch
            {
                "end-not-asked-for" => new ExecResponse { Pid = 2, Exit = new WaitResponse(), StdoutEof = true, StderrEof = true },
                "output-not-asked-for" => new ExecResponse { Pid = 2, Stdout = ByteString.CopyFromUtf8("x") },
                "too-much-output" => new ExecResponse { Pid = 2, Stderr = ByteString.CopyFrom(new byte[r.MaxOutputBytes + 1]) },
                _ => new ExecResponse { Pid = 2, Exit = new WaitResponse { ExitCode = 1, Signal = 9 } },
            })));
        var exec = new ExecRequest { ExecId = "a", WaitMs = lie.EndsWith("not-asked-for", StringComparison.Ordinal) ? 0u : 50u, MaxOutputBytes = 10 };
        exec.Argv.Add("true");
        await Assert.ThrowsAsync<AgentProtocolException>(() => c.ExecAsync(exec));
        await c.DisposeAsync();
        await serving;
    }

    [Theory]
    [InlineData("too-many")]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("..")]
    [InlineData("negative-size")]
    [InlineData("target-on-file")]
    public async Task BadDirectoryListings_AreViolations(string lie)
    {
        var (c, serving) = await LyingAgent(s => s.Register<ListDirRequest, ListDirResponse>(S, "ListDir", ListDirRequest.Parser, (r, _) =>
        {
            var response = new ListDirResponse();
            if (lie == "too-many")
            {
                for (var i = 0; i <= r.MaxEntries; i++) response.Entries.Add(new DirEntry { Name = "f" + i, Type = DirEntryType.File });
            }
            else
            {
                response.Entries.Add(lie switch
                {
                    "negative-size" => new DirEntry { Name = "f", Type = DirEntryType.File, Size = -1 },
                    "target-on-file" => new DirEntry { Name = "f", Type = DirEntryType.File, SymlinkTarget = "/etc" },
                    _ => new DirEntry { Name = lie, Type = DirEntryType.File },
                });
            }
            return ValueTask.FromResult(response);
        }));
        await Assert.ThrowsAsync<AgentProtocolException>(() => c.ListDirAsync(new ListDirRequest { Path = "/x", MaxEntries = 3 }));
        await c.DisposeAsync();
        await serving;
    }

    [Fact]
    public async Task BadRequests_NeverLeaveTheHost()
    {
        var (c, serving) = await LyingAgent(_ => { });
        var exec = new ExecRequest { ExecId = "bad id!" };
        exec.Argv.Add("true");
        await Assert.ThrowsAsync<ArgumentException>(() => c.ExecAsync(exec));
        await Assert.ThrowsAsync<ArgumentException>(() => c.ExecAsync(new ExecRequest { ExecId = "ok" }));
        await Assert.ThrowsAsync<ArgumentException>(() => c.WriteStdinAsync("ok", new byte[(1 << 20) + 1]));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => c.SignalAsync("ok", 0));
        await Assert.ThrowsAsync<ArgumentException>(() => c.WriteFileAsync(new WriteFileRequest { Path = "rel" }));
        await c.DisposeAsync();
        await serving;
    }
}
