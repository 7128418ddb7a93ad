using System.Diagnostics;
using System.Net;
using Sandbox.Isolation.Network;

namespace Sandbox.Isolation.Tests;

/// <summary>The host's half of a microVM's CNI pod network (Kata's tc mirred): a real network namespace with a veth
/// pair as CNI's bridge plugin leaves it (root: `ip netns add`, `ip link`), the tap opened in it, and frames crossing
/// both ways — the host's ARP request for the pod's address comes out of the tap's descriptor (what QEMU would read),
/// and the answer written into it reaches the host through the veth (what the guest's NIC would send). Afterwards
/// nothing of it is left in the namespace.</summary>
public sealed class PodNetworkTapTests : IDisposable
{
    private readonly string _name = "sbxt-" + Guid.NewGuid().ToString("N")[..8];
    private string HostVeth => "vh" + _name[5..];
    private readonly int _subnet = Random.Shared.Next(1, 255);
    private string NetnsPath => "/run/netns/" + _name;

    [Fact]
    public async Task The_pods_veth_and_the_tap_carry_each_others_frames_and_nothing_is_left()
    {
        var pod = $"10.201.{_subnet}.2";
        var gateway = $"10.201.{_subnet}.1";
        HostProgram.Run("ip", "netns", "add", _name);
        HostProgram.Run("ip", "link", "add", HostVeth, "type", "veth", "peer", "name", "eth0", "netns", _name);
        HostProgram.Run("ip", "addr", "add", gateway + "/24", "dev", HostVeth);
        HostProgram.Run("ip", "link", "set", HostVeth, "up");
        HostProgram.Run("ip", "-n", _name, "addr", "add", pod + "/24", "dev", "eth0");
        HostProgram.Run("ip", "-n", _name, "link", "set", "eth0", "mtu", "1400", "up");
        HostProgram.Run("ip", "-n", _name, "route", "add", "default", "via", gateway);
        var podMac = HostProgram.Run("ip", "-n", _name, "-br", "link", "show", "eth0").Split(' ', StringSplitOptions.RemoveEmptyEntries)[2];

        using (var tap = await PodNetworkTap.CreateAsync(new NetworkOptions(), NetnsPath))
        {
            Assert.Equal(new PodInterface("eth0", System.Net.NetworkInformation.PhysicalAddress.Parse(podMac.Replace(':', '-').ToUpperInvariant()),
                IPAddress.Parse(pod), 24, IPAddress.Parse(gateway), 1400), tap.Interface);
            Assert.Contains(PodNetworkTap.TapName, HostProgram.Run("ip", "-n", _name, "-br", "link", "show"));
            Assert.Contains("mirred", HostProgram.Run("tc", "-n", _name, "filter", "show", "dev", "eth0", "ingress"));
            Assert.Contains("mirred", HostProgram.Run("tc", "-n", _name, "filter", "show", "dev", PodNetworkTap.TapName, "ingress"));

            // The host asks who has the pod's address: the request comes out of the tap, not the namespace's stack.
            // Datagrams to the pod's address (the host has no neighbour entry for it yet, so it asks by ARP first).
            using var stop = new CancellationTokenSource();
            var sender = Task.Run(async () =>
            {
                using var udp = new System.Net.Sockets.UdpClient();
                while (!stop.IsCancellationRequested)
                {
                    await udp.SendAsync(new byte[] { 1 }, new IPEndPoint(IPAddress.Parse(pod), 9));
                    await Task.Delay(200);
                }
            });
            using var frames = new FileStream(tap.Tap, FileAccess.ReadWrite, 1, isAsync: false);
            var hostMac = Mac(HostProgram.Run("ip", "-br", "link", "show", HostVeth).Split(' ', StringSplitOptions.RemoveEmptyEntries)[2]);
            var buffer = new byte[2048];
            byte[]? request = null;
            while (request is null)
            {
                var n = await Task.Run(() => frames.Read(buffer)).WaitAsync(TimeSpan.FromSeconds(20));
                // Ethernet: dst, src, ethertype 0x0806 (ARP); ARP op 1 (request) for the pod's address.
                if (n >= 42 && buffer[12] == 0x08 && buffer[13] == 0x06 && buffer[21] == 1 && buffer.AsSpan(38, 4).SequenceEqual(IPAddress.Parse(pod).GetAddressBytes()))
                    request = buffer[..n];
            }
            Assert.Equal(hostMac, request.AsSpan(6, 6).ToArray());

            // The VM's answer, written into the tap, reaches the host through the veth: its neighbour entry for the
            // pod's address is the MAC the answer gave.
            var vmMac = new byte[] { 0x02, 0x53, 0x42, 0x58, 0x00, (byte)_subnet };
            var reply = new byte[42];
            hostMac.CopyTo(reply, 0);
            vmMac.CopyTo(reply, 6);
            reply[12] = 0x08; reply[13] = 0x06;
            byte[] arpHeader = [0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x02];
            arpHeader.CopyTo(reply, 14);
            vmMac.CopyTo(reply, 22);
            IPAddress.Parse(pod).GetAddressBytes().CopyTo(reply, 28);
            hostMac.CopyTo(reply, 32);
            IPAddress.Parse(gateway).GetAddressBytes().CopyTo(reply, 38);
            frames.Write(reply);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            var neighbour = "";
            while (DateTime.UtcNow < deadline && !(neighbour = HostProgram.Run("ip", "neigh", "show", pod, "dev", HostVeth)).Contains("02:53:42:58:00", StringComparison.Ordinal))
                await Task.Delay(100);
            Assert.Contains($"lladdr 02:53:42:58:00:{_subnet:x2}", neighbour);
            await stop.CancelAsync();
            await sender;
        }
        // The tap went with its descriptor, the ingress qdisc from the pod's interface with the dispose.
        Assert.DoesNotContain(PodNetworkTap.TapName, HostProgram.Run("ip", "-n", _name, "-br", "link", "show"));
        Assert.DoesNotContain("ingress", HostProgram.Run("tc", "-n", _name, "qdisc", "show", "dev", "eth0"));
    }

    [Fact]
    public async Task A_namespace_without_a_default_route_is_refused_naming_it()
    {
        HostProgram.Run("ip", "netns", "add", _name);
        var e = await Assert.ThrowsAsync<SandboxException>(() => PodNetworkTap.CreateAsync(new NetworkOptions(), NetnsPath));
        Assert.Equal(SandboxErrorCode.FailedPrecondition, e.Code);
        Assert.Contains("0 IPv4 default routes", e.Message);
        Assert.DoesNotContain(PodNetworkTap.TapName, HostProgram.Run("ip", "-n", _name, "-br", "link", "show"));
    }

    private static byte[] Mac(string text) => text.Split(':').Select(b => Convert.ToByte(b, 16)).ToArray();

    public void Dispose()
    {
        Process.Start("ip", ["link", "delete", HostVeth])!.WaitForExit();
        if (File.Exists(NetnsPath))
            Process.Start("ip", ["netns", "delete", _name])!.WaitForExit();
    }
}
