using System.Net.Sockets;
using Sandbox.AgentProtocol.V1;
using Sandbox.Isolation.Agent;
using Sandbox.Ttrpc;

namespace Sandbox.Isolation.Tests;

/// <summary>AgentChannel against agents that stop answering or vanish: the sandbox turns broken once, the tier's kill
/// runs once, and every later call fails at once naming the sandbox. The peer is a real ttrpc server on a unix socket.</summary>
public sealed class AgentChannelTests : IAsyncDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("agent-channel-").FullName;
    private readonly List<IAsyncDisposable> _owned = [];

    private async Task<(AgentClient Client, Stream ServerSide)> ConnectAsync(Action<TtrpcServer> register)
    {
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await client.ConnectAsync(new UnixDomainSocketEndPoint(path));
        var accepted = await listener.AcceptAsync();
        var serverStream = new NetworkStream(accepted, ownsSocket: true);
        var server = new TtrpcServer();
        register(server);
        _ = server.ServeConnectionAsync(serverStream);
        var agent = AgentClient.Create(new NetworkStream(client, ownsSocket: true));
        _owned.Add(agent);
        return (agent, serverStream);
    }

    private static ExecRequest Exec()
    {
        var r = new ExecRequest { ExecId = "e1" };
        r.Argv.Add("true");
        return r;
    }

    [Fact]
    public async Task A_call_the_agent_never_answers_breaks_the_sandbox_once_and_later_calls_fail_at_once()
    {
        var (client, _) = await ConnectAsync(s => s.Register<ExecRequest, ExecResponse>(AgentClient.ServiceName, "Exec", ExecRequest.Parser,
            async (_, c) =>
            {
                await Task.Delay(Timeout.Infinite, c.CancellationToken);
                return new ExecResponse();
            }));
        var id = SandboxId.New();
        var kills = 0;
        using var channel = new AgentChannel(client, id, () =>
        {
            Interlocked.Increment(ref kills);
            return Task.CompletedTask;
        }, callDeadline: TimeSpan.FromMilliseconds(200));

        var first = await Assert.ThrowsAsync<SandboxException>(() => channel.CallAsync("Exec", (c, t) => c.ExecAsync(Exec(), t), CancellationToken.None));
        Assert.Equal(SandboxErrorCode.Unavailable, first.Code);
        Assert.Contains(id.Value, first.Message);
        Assert.Contains("did not answer Exec", first.Message);
        Assert.NotNull(channel.BrokenReason);

        var later = await Assert.ThrowsAsync<SandboxException>(() => channel.CallAsync("Stats", (c, t) => c.StatsAsync(t), CancellationToken.None));
        Assert.Contains("broken", later.Message);
        var poll = await Assert.ThrowsAsync<SandboxException>(() => channel.LongPollAsync("Wait", (c, t) => c.WaitAsync("e1", t), CancellationToken.None));
        Assert.Contains("broken", poll.Message);
        Assert.Equal(1, kills);
    }

    [Fact]
    public async Task A_lost_connection_breaks_the_sandbox_and_ends_pending_long_polls()
    {
        var waiting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (client, serverSide) = await ConnectAsync(s => s.Register<WaitRequest, WaitResponse>(AgentClient.ServiceName, "Wait", WaitRequest.Parser,
            async (_, c) =>
            {
                waiting.TrySetResult();
                await Task.Delay(Timeout.Infinite, c.CancellationToken);
                return new WaitResponse();
            }));
        var kills = 0;
        using var channel = new AgentChannel(client, SandboxId.New(), () =>
        {
            Interlocked.Increment(ref kills);
            return Task.CompletedTask;
        });
        var poll = channel.LongPollAsync("Wait", (c, t) => c.WaitAsync("e1", t), CancellationToken.None);
        await waiting.Task;
        await serverSide.DisposeAsync(); // the agent is gone
        var e = await Assert.ThrowsAsync<SandboxException>(() => poll);
        Assert.Equal(SandboxErrorCode.Unavailable, e.Code);
        Assert.Contains("connection to its agent was lost", e.Message);
        Assert.Equal(1, kills);
    }

    [Fact]
    public async Task After_close_a_lost_connection_is_the_teardown_not_a_broken_agent()
    {
        var (client, serverSide) = await ConnectAsync(_ => { });
        var kills = 0;
        using var channel = new AgentChannel(client, SandboxId.New(), () =>
        {
            Interlocked.Increment(ref kills);
            return Task.CompletedTask;
        });
        channel.Close();
        await serverSide.DisposeAsync();
        await Assert.ThrowsAsync<SandboxException>(() => channel.CallAsync("Stats", (c, t) => c.StatsAsync(t), CancellationToken.None));
        Assert.Null(channel.BrokenReason);
        Assert.Equal(0, kills);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in _owned)
            await owned.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}
