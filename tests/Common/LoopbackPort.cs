using System.Net;
using System.Net.Sockets;

namespace Sandbox.Tests.Common;

/// <summary>A loopback TCP port for a server that something else binds later (sandboxd's tcp listener, a registry,
/// pasta's published port). Not a port from bind(0): that one is the kernel's ephemeral range, which it hands to the
/// next outgoing connection anywhere on the host (gRPC, HTTP, the test projects running beside this one) between the
/// probe's close and the server's bind, and the server's bind then fails with EADDRINUSE. Below the ephemeral range
/// only another listener can take a port, and the probe skips ports one already holds.</summary>
internal static class LoopbackPort
{
    public static int Free()
    {
        var low = EphemeralLow();
        for (var attempt = 0; attempt < 1000; attempt++)
        {
            var port = Random.Shared.Next(Math.Max(1024, low / 2), low);
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                probe.Bind(new IPEndPoint(IPAddress.Loopback, port));
                probe.Listen();
                return port;
            }
            catch (SocketException)
            {
                // Held by a listener (or in use another way): another one.
            }
        }
        throw new InvalidOperationException($"no free loopback port below the ephemeral range (which starts at {low})");
    }

    /// <summary>The first port of the kernel's ephemeral range (/proc/sys/net/ipv4/ip_local_port_range).</summary>
    private static int EphemeralLow() =>
        int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[0]);
}
