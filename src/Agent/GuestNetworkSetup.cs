using System.Net;
using System.Net.Sockets;
using Sandbox.Agent.Interop;
using Sandbox.AgentProtocol.V1;
using Sandbox.Ttrpc;

namespace Sandbox.Agent;

/// <summary>The microVM guest's network at SetupGuest: loopback up always; with a network (mode egress: the virtio-net
/// device the host attached to the sandbox's filtered stack; a CNI pod: the device on the tap joined to the pod's
/// interface), eth0 gets its MTU (when given), address, netmask and the default route. Done
/// with the classic interface ioctls on an AF_INET socket (no netlink library, no ip binary in the guest).</summary>
internal static unsafe class GuestNetworkSetup
{
    private const ulong SIOCGIFFLAGS = 0x8913;
    private const ulong SIOCSIFFLAGS = 0x8914;
    private const ulong SIOCSIFADDR = 0x8916;
    private const ulong SIOCSIFNETMASK = 0x891C;
    private const ulong SIOCSIFMTU = 0x8922;
    private const ulong SIOCADDRT = 0x890B;
    private const short IFF_UP = 0x1;
    private const ushort RTF_UP = 0x1;
    private const ushort RTF_GATEWAY = 0x2;
    private const int IfreqSize = 40;
    private const int RtentrySize = 120;
    // IPv4's minimum (RFC 791) and virtio-net's largest frame without mergeable big buffers.
    private const uint MinMtu = 576;
    private const uint MaxMtu = 65535;

    public static void Apply(GuestNetwork? network)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        var fd = (int)socket.Handle;
        Up(fd, "lo");
        if (network is null)
            return;
        var address = Parse(network.Address, "address");
        var gateway = Parse(network.Gateway, "gateway");
        if (network.PrefixLength is < 1 or > 32)
            throw new TtrpcException(StatusCode.InvalidArgument, $"network prefix_length {network.PrefixLength} is not 1..32");
        if (network.Mtu != 0 && network.Mtu is < MinMtu or > MaxMtu)
            throw new TtrpcException(StatusCode.InvalidArgument, $"network mtu {network.Mtu} is not {MinMtu}..{MaxMtu}");
        var mask = network.PrefixLength == 32 ? uint.MaxValue : ~(uint.MaxValue >> (int)network.PrefixLength);
        var maskBytes = new byte[] { (byte)(mask >> 24), (byte)(mask >> 16), (byte)(mask >> 8), (byte)mask };
        if (network.Mtu != 0)
            SetMtu(fd, "eth0", (int)network.Mtu);
        SetAddress(fd, "eth0", SIOCSIFADDR, address.GetAddressBytes(), "address");
        SetAddress(fd, "eth0", SIOCSIFNETMASK, maskBytes, "netmask");
        Up(fd, "eth0");
        AddDefaultRoute(fd, gateway.GetAddressBytes());
    }

    private static IPAddress Parse(string text, string what) =>
        IPAddress.TryParse(text, out var a) && a.AddressFamily == AddressFamily.InterNetwork
            ? a
            : throw new TtrpcException(StatusCode.InvalidArgument, $"network {what} '{text}' is not an IPv4 address");

    private static void Name(byte* ifreq, string name)
    {
        for (var i = 0; i < name.Length; i++) ifreq[i] = (byte)name[i];
    }

    /// <summary>sockaddr_in at <paramref name="at"/>: family AF_INET, port 0, the address.</summary>
    private static void SockaddrIn(byte* at, byte[] address)
    {
        *(ushort*)at = 2;
        for (var i = 0; i < 4; i++) at[4 + i] = address[i];
    }

    private static void Up(int fd, string name)
    {
        var ifreq = stackalloc byte[IfreqSize];
        new Span<byte>(ifreq, IfreqSize).Clear();
        Name(ifreq, name);
        Check(Libc.ioctl(fd, SIOCGIFFLAGS, ifreq), $"SIOCGIFFLAGS {name}");
        *(short*)(ifreq + 16) |= IFF_UP;
        Check(Libc.ioctl(fd, SIOCSIFFLAGS, ifreq), $"SIOCSIFFLAGS {name}");
    }

    /// <summary>ifreq's ifr_mtu: an int at offset 16.</summary>
    private static void SetMtu(int fd, string name, int mtu)
    {
        var ifreq = stackalloc byte[IfreqSize];
        new Span<byte>(ifreq, IfreqSize).Clear();
        Name(ifreq, name);
        *(int*)(ifreq + 16) = mtu;
        Check(Libc.ioctl(fd, SIOCSIFMTU, ifreq), $"setting the MTU {mtu} of {name}");
    }

    private static void SetAddress(int fd, string name, ulong request, byte[] address, string what)
    {
        var ifreq = stackalloc byte[IfreqSize];
        new Span<byte>(ifreq, IfreqSize).Clear();
        Name(ifreq, name);
        SockaddrIn(ifreq + 16, address);
        Check(Libc.ioctl(fd, request, ifreq), $"setting the {what} of {name}");
    }

    /// <summary>struct rtentry (x86_64): rt_dst at 8, rt_gateway at 24, rt_genmask at 40, rt_flags at 56; dst and
    /// genmask 0.0.0.0 = the default route.</summary>
    private static void AddDefaultRoute(int fd, byte[] gateway)
    {
        var rt = stackalloc byte[RtentrySize];
        new Span<byte>(rt, RtentrySize).Clear();
        SockaddrIn(rt + 8, [0, 0, 0, 0]);
        SockaddrIn(rt + 24, gateway);
        SockaddrIn(rt + 40, [0, 0, 0, 0]);
        *(ushort*)(rt + 56) = RTF_UP | RTF_GATEWAY;
        Check(Libc.ioctl(fd, SIOCADDRT, rt), "adding the default route");
    }

    private static void Check(int rc, string what)
    {
        if (rc != 0)
            throw new IOException($"{what}: {Errno.Name(System.Runtime.InteropServices.Marshal.GetLastPInvokeError())}");
    }
}
