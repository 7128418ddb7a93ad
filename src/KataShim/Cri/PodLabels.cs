using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;
using Sandbox.KataShim.Protocol.Containers;

namespace Sandbox.KataShim.Cri;

/// <summary>A CRI pod's labels, for the policy. CRI keeps them as containerd labels of the pod's sandbox (pause)
/// container, not in any bundle, so the shim asks containerd's Containers service for them: one unary gRPC call
/// (Grpc.Net.Client, HTTP/2 without TLS) on containerd's own socket, the shim's -address, in the container's
/// namespace. CRI's own bookkeeping labels (io.cri-containerd.*) are left out.</summary>
internal static class PodLabels
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(5);

    public static async Task<IReadOnlyDictionary<string, string>> GetAsync(string containerdAddress, string ns, string podId, CancellationToken cancellationToken)
    {
        var socket = containerdAddress.StartsWith("unix://", StringComparison.Ordinal) ? containerdAddress["unix://".Length..] : containerdAddress;
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await s.ConnectAsync(new UnixDomainSocketEndPoint(socket), ct).ConfigureAwait(false);
                    return new NetworkStream(s, ownsSocket: true);
                }
                catch
                {
                    s.Dispose();
                    throw;
                }
            },
        };
        using var channel = GrpcChannel.ForAddress("http://containerd", new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
        var client = new Containers.ContainersClient(channel);
        GetContainerResponse reply;
        try
        {
            reply = await client.GetAsync(new GetContainerRequest { Id = podId }, new Metadata { { "containerd-namespace", ns } },
                DateTime.UtcNow + CallTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            throw new InvalidOperationException($"containerd answered Containers/Get of {podId} with {e.StatusCode}: {e.Status.Detail}", e);
        }
        return reply.Container?.Labels.Where(l => !l.Key.StartsWith("io.cri-containerd.", StringComparison.Ordinal))
            .ToDictionary(l => l.Key, l => l.Value, StringComparer.Ordinal) ?? new Dictionary<string, string>();
    }
}
