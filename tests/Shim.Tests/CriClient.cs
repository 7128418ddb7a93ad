using System.Net.Sockets;
using Grpc.Net.Client;
using Sandbox.Shim.Tests.Cri;

namespace Sandbox.Shim.Tests;

/// <summary>A CRI RuntimeService client on containerd's unix socket (what kubelet or crictl would be).</summary>
public sealed class CriClient : IDisposable
{
    private readonly GrpcChannel _channel;

    public CriClient(string socket)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellationToken) =>
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await s.ConnectAsync(new UnixDomainSocketEndPoint(socket), cancellationToken).ConfigureAwait(false);
                    return new NetworkStream(s, ownsSocket: true);
                }
                catch
                {
                    s.Dispose();
                    throw;
                }
            },
        };
        _channel = GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions { HttpHandler = handler });
        Runtime = new RuntimeService.RuntimeServiceClient(_channel);
    }

    public RuntimeService.RuntimeServiceClient Runtime { get; }

    public void Dispose() => _channel.Dispose();
}
