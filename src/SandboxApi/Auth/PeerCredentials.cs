using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Sandbox.SandboxApi.Auth;

/// <summary>The credentials of the process at the other end of a unix socket, from SO_PEERCRED (taken by the
/// kernel when the peer connected; the peer cannot forge them).</summary>
public readonly record struct PeerCredentials(int Pid, int Uid, int Gid)
{
    private const int SolSocket = 1;
    private const int SoPeerCred = 17;

    public static PeerCredentials? Read(Socket socket)
    {
        if (socket.AddressFamily != AddressFamily.Unix)
            return null;
        Span<byte> buffer = stackalloc byte[12];
        var length = socket.GetRawSocketOption(SolSocket, SoPeerCred, buffer);
        if (length < 12)
            return null;
        var ints = MemoryMarshal.Cast<byte, int>(buffer);
        return new PeerCredentials(ints[0], ints[1], ints[2]);
    }
}

/// <summary>Peer credentials of the open unix-socket connections, by Kestrel connection id: filled by the
/// listener's connection middleware, read by the principal resolver.</summary>
public sealed class PeerCredentialTable
{
    private readonly ConcurrentDictionary<string, PeerCredentials> _byConnection = new(StringComparer.Ordinal);

    public void Add(string connectionId, PeerCredentials credentials) => _byConnection[connectionId] = credentials;

    public void Remove(string connectionId) => _byConnection.TryRemove(connectionId, out _);

    public PeerCredentials? Get(string connectionId) => _byConnection.TryGetValue(connectionId, out var c) ? c : null;
}
