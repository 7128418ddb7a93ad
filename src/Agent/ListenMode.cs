using System.Net.Sockets;
using Sandbox.Agent.Interop;
using Sandbox.Ttrpc;

namespace Sandbox.Agent;

/// <summary>
/// <c>--listen-fd N</c>: serve ttrpc on connections accepted from an inherited, listening unix socket, one connection at
/// a time; a new connection replaces the current one. Losing the host's connection does not end anything: processes,
/// exec ids, output buffers and waits live in the <see cref="AgentService"/>, not in the connection, so a host that was
/// restarted (sandboxd after kill -9) connects again and carries on. Exits only after a Shutdown call.
/// The socket's file lives on the host in a root-only directory and is not mounted into the sandbox, so only the host
/// can connect.
/// </summary>
internal static class ListenMode
{
    public static async Task<int> RunAsync(int fd, AgentOptions options)
    {
        Socket listener;
        try
        {
            // Inherited without close-on-exec: set it, or every process the agent spawns would hold the listening
            // socket and could accept the host's next connection itself.
            if (Libc.fcntl(fd, Libc.F_SETFD, Libc.FD_CLOEXEC) != 0)
                throw new IOException($"fcntl(F_SETFD): {Errno.Name(System.Runtime.InteropServices.Marshal.GetLastPInvokeError())}");
            listener = new Socket(new SafeSocketHandle(fd, ownsHandle: true));
        }
        catch (Exception e)
        {
            AgentLog.Info($"cannot use the listening socket (fd {fd}): {e.Message}");
            return 2;
        }
        using (listener)
        using (var service = new AgentService(options))
        {
            var server = new TtrpcServer();
            service.Register(server);
            AgentLog.Info($"ready: version {AgentService.Version}, pid {Libc.getpid()}, root {options.Root}, listening");
            CancellationTokenSource? current = null;
            var accept = listener.AcceptAsync();
            while (true)
            {
                var first = await Task.WhenAny(accept, service.ShutdownRequested).ConfigureAwait(false);
                if (first == service.ShutdownRequested) break;
                Socket connection;
                try
                {
                    connection = await accept.ConfigureAwait(false);
                }
                catch (SocketException e)
                {
                    AgentLog.Info($"accept failed: {e.Message}");
                    await Task.Delay(100).ConfigureAwait(false);
                    accept = listener.AcceptAsync();
                    continue;
                }
                accept = listener.AcceptAsync();
                if (current is not null)
                {
                    AgentLog.Info("a new host connection replaces the current one");
                    await current.CancelAsync().ConfigureAwait(false);
                }
                current = new CancellationTokenSource();
                _ = ServeAsync(server, connection, current.Token);
            }
            int killed = service.KillAll();
            AgentLog.Info($"shutting down; killed {killed} process group(s)");
            if (current is not null) await current.CancelAsync().ConfigureAwait(false);
        }
        return 0;
    }

    private static async Task ServeAsync(TtrpcServer server, Socket connection, CancellationToken cancellationToken)
    {
        var stream = new NetworkStream(connection, ownsSocket: true);
        try
        {
            await server.ServeConnectionAsync(stream, cancellationToken).ConfigureAwait(false);
            AgentLog.Info("host connection ended; processes keep running, waiting for the host to connect again");
        }
        finally
        {
            await stream.DisposeAsync().ConfigureAwait(false);
        }
    }
}
