using System.Net;

namespace Sandbox.Isolation.Network;

/// <summary>The addresses every egress sandbox sees, the same on both tiers. 10.0.2.0/24 is the layout QEMU's user
/// networking made familiar; the DNS server sits on a link-local address on the namespace's loopback, which no route
/// leads to from anywhere else.</summary>
public static class SandboxAddresses
{
    /// <summary>The sandbox's own address (prefix <see cref="PrefixLength"/>).</summary>
    public static readonly IPAddress Sandbox = IPAddress.Parse("10.0.2.15");

    public const int PrefixLength = 24;

    /// <summary>The default gateway. When an allow entry names 127.0.0.1, connections to this address (on the allowed
    /// ports only) reach the host's loopback; otherwise it leads nowhere.</summary>
    public static readonly IPAddress Gateway = IPAddress.Parse("10.0.2.2");

    /// <summary>The resolver the sandbox is given (/etc/resolv.conf of the host rootfs names it): it answers only the
    /// allowed host names, with the addresses pinned at create time.</summary>
    public static readonly IPAddress Dns = IPAddress.Parse("169.254.0.53");

    /// <summary>The /etc/resolv.conf every sandbox of the host rootfs gets. Without egress nothing answers there, and
    /// a lookup fails at once (no route).</summary>
    public static string ResolvConf => $"nameserver {Dns}\noptions timeout:2 attempts:2\n";
}
