using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Google.Protobuf;
using Sandbox.KataShim.Protocol.Containers;

namespace Sandbox.KataShim.Cri;

/// <summary>A CRI pod's labels, for the policy. CRI keeps them as containerd labels of the pod's sandbox (pause)
/// container, not in any bundle, so the shim asks containerd's Containers service for them: one unary gRPC call
/// (HTTP/2 without TLS) on containerd's own socket, the shim's -address, in the container's namespace. CRI's own
/// bookkeeping labels (io.cri-containerd.*) are left out.</summary>
internal static class PodLabels
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(5);
    private const string GetMethod = "/containerd.services.containers.v1.Containers/Get";

    public static async Task<IReadOnlyDictionary<string, string>> GetAsync(string containerdAddress, string ns, string podId, CancellationToken cancellationToken)
    {
        var socket = containerdAddress.StartsWith("unix://", StringComparison.Ordinal) ? containerdAddress["unix://".Length..] : containerdAddress;
        using var handler = new SocketsHttpHandler
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
        using var client = new HttpClient(handler) { Timeout = CallTimeout };
        var message = new GetContainerRequest { Id = podId }.ToByteArray();
        var frame = new byte[5 + message.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)message.Length);
        message.CopyTo(frame, 5);
        using var request = new HttpRequestMessage(HttpMethod.Post, "http://containerd" + GetMethod)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(frame),
        };
        request.Content.Headers.ContentType = new("application/grpc");
        request.Headers.TryAddWithoutValidation("te", "trailers");
        request.Headers.TryAddWithoutValidation("containerd-namespace", ns);
        using var response = await client.SendAsync(request, cancellationToken).ConfigureAwait(false);
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        var status = Header(response, "grpc-status");
        if (status is not (null or "0") || body.Length < 5)
            throw new InvalidOperationException($"containerd answered Containers/Get of {podId} with grpc-status {status ?? "(none)"}: {Header(response, "grpc-message")}");
        var length = (int)BinaryPrimitives.ReadUInt32BigEndian(body.AsSpan(1));
        var container = GetContainerResponse.Parser.ParseFrom(body, 5, Math.Min(length, body.Length - 5)).Container;
        return container?.Labels.Where(l => !l.Key.StartsWith("io.cri-containerd.", StringComparison.Ordinal))
            .ToDictionary(l => l.Key, l => l.Value, StringComparer.Ordinal) ?? new Dictionary<string, string>();
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.TrailingHeaders.TryGetValues(name, out var t) ? t.FirstOrDefault()
        : response.Headers.TryGetValues(name, out var h) ? h.FirstOrDefault()
        : null;
}
