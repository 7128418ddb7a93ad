using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Sandbox.AgentProtocol.V1;
using Sandbox.Isolation.Agent;

namespace Sandbox.Agent.Tests;

/// <summary>sandbox-agent --listen-fd: the host's connection can go away and come back (a sandboxd restart); what the
/// agent started keeps running, and exec ids, output and waits carry over to the next connection.</summary>
public sealed partial class ListenModeTests
{
    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int fcntl(int fd, int cmd, int arg);

    [Fact]
    public async Task ProcessesAndExecIds_SurviveTheHostReconnecting()
    {
        var dir = Directory.CreateTempSubdirectory("agent-listen-").FullName;
        var path = Path.Combine(dir, "agent.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(4);
        var fd = (int)listener.Handle;
        Assert.Equal(0, fcntl(fd, 2 /* F_SETFD */, 0)); // inherited by the agent
        using var agent = StartAgent(fd, dir);
        try
        {
            var first = await ConnectAsync(path);
            await first.PingAsync();
            await first.ExecAsync(Exec("long", "sleep", "30"));
            await first.ExecAsync(Exec("out", "sh", "-c", "echo one; sleep 0.5; echo two"));
            await first.DisposeAsync(); // the host goes away (sandboxd killed)

            await using var second = await ConnectAsync(path);
            await second.PingAsync();
            Assert.False(agent.HasExited);
            var text = new StringBuilder();
            while (true)
            {
                var r = await second.ReadOutputAsync("out", OutputStream.Stdout);
                text.Append(r.Data.ToStringUtf8());
                if (r.Eof) break;
            }
            Assert.Equal("one\ntwo\n", text.ToString());
            Assert.Equal(0, (await second.WaitAsync("out")).ExitCode);
            // The long process is still there, under the same id: signal it and wait for it.
            await second.SignalAsync("long", 9);
            Assert.Equal(9, (await second.WaitAsync("long").WaitAsync(TimeSpan.FromSeconds(60))).Signal);
            var dup = await Assert.ThrowsAnyAsync<Exception>(() => second.ExecAsync(Exec("out", "true")));
            Assert.Contains("already exists", dup.Message);

            // A third connection replaces the second; Shutdown ends the agent.
            await using var third = await ConnectAsync(path);
            await third.PingAsync();
            await third.ShutdownAsync();
            await agent.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal(0, agent.ExitCode);
        }
        finally
        {
            if (!agent.HasExited) agent.Kill();
            Directory.Delete(dir, recursive: true);
        }
    }

    private static ExecRequest Exec(string id, params string[] argv)
    {
        var r = new ExecRequest { ExecId = id };
        r.Argv.AddRange(argv);
        r.Env.Add(new EnvVar { Name = "PATH", Value = "/usr/bin:/bin" });
        return r;
    }

    private static async Task<AgentClient> ConnectAsync(string path)
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await s.ConnectAsync(new UnixDomainSocketEndPoint(path));
        return AgentClient.Create(new NetworkStream(s, ownsSocket: true));
    }

    private static Process StartAgent(int fd, string root)
    {
        var psi = new ProcessStartInfo { UseShellExecute = false };
        var native = Environment.GetEnvironmentVariable("SANDBOX_AGENT");
        if (!string.IsNullOrEmpty(native))
        {
            psi.FileName = native;
        }
        else
        {
            psi.FileName = Environment.ProcessPath!.EndsWith("dotnet", StringComparison.Ordinal) ? Environment.ProcessPath : "dotnet";
            psi.ArgumentList.Add("exec");
            psi.ArgumentList.Add(OutOfProcessAgent.FindAgentDll());
        }
        foreach (var a in new[] { "--listen-fd", fd.ToString(), "--root", root, "--quiet" }) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }
}
