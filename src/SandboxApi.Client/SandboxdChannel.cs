using System.Net.Sockets;
using Grpc.Net.Client;

namespace Sandbox.Api;

/// <summary>Opens gRPC channels to sandboxd. The unix socket is the default transport; the caller is identified by
/// its peer credentials (SO_PEERCRED), so no token is needed there.</summary>
public static class SandboxdChannel
{
    /// <summary>Where sandboxd listens unless configured otherwise.</summary>
    public const string DefaultSocketPath = "/run/sandbox/sandboxd.sock";

    /// <summary>Environment variable naming the socket for clients (the CLI's --socket overrides it).</summary>
    public const string SocketEnvironmentVariable = "SANDBOX_SOCKET";

    /// <summary>The socket path: the explicit one, else $SANDBOX_SOCKET, else <see cref="DefaultSocketPath"/>.</summary>
    public static string ResolveSocketPath(string? explicitPath) =>
        !string.IsNullOrEmpty(explicitPath) ? explicitPath
        : Environment.GetEnvironmentVariable(SocketEnvironmentVariable) is { Length: > 0 } env ? env
        : DefaultSocketPath;

    /// <summary>A channel over a unix socket. Connections are opened lazily, on the first call.</summary>
    /// <param name="singleCall">The channel carries one call (`sandbox run`): its connection is not kept for another, so
    /// the handler starts no pool-cleaning timer, and with it no timer thread, in a process that lives for one call.</param>
    public static GrpcChannel ForUnixSocket(string socketPath, int maxMessageBytes = 8 << 20, bool singleCall = false)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            // A lifetime of zero is SocketsHttpHandler's "keep no connections": no pool-cleaning timer. A new HTTP/2
            // connection still serves the request that opened it, and is closed when that request completes.
            PooledConnectionLifetime = singleCall ? TimeSpan.Zero : Timeout.InfiniteTimeSpan,
            // The stream window a process's output may fill before the client's next WINDOW_UPDATE. Where dynamic
            // window sizing is off (the CLI: it costs a PING round trip on every new connection), this is the window.
            InitialHttp2StreamWindowSize = 4 << 20,
            // The socket is the destination: an http_proxy in the caller's environment must not turn the calls into
            // proxy requests (nor be read at all).
            UseProxy = false,
        };
        // Given as an HttpClient (no timeout: a Run lasts as long as its process), the handler is used as it is; given
        // as HttpHandler, Grpc.Net.Client wraps it in its load balancer (resolver, subchannel, picker), which a
        // single unix socket has no use for and a one-shot CLI call paid for on every invocation.
        return GrpcChannel.ForAddress("http://sandboxd", new GrpcChannelOptions
        {
            HttpClient = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan },
            DisposeHttpClient = true,
            MaxReceiveMessageSize = maxMessageBytes,
            MaxSendMessageSize = maxMessageBytes,
        });
    }
}
