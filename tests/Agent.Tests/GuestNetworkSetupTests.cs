using System.Diagnostics;
using System.Runtime.InteropServices;
using Sandbox.AgentProtocol.V1;
using Sandbox.Ttrpc;

namespace Sandbox.Agent.Tests;

/// <summary>The guest's eth0 as SetupGuest's GuestNetwork configures it (egress and CNI pods alike), run by the real
/// code on a thread inside a network namespace of the test's own (root: `ip netns add`) whose eth0 is one end of a veth pair,
/// as a guest's virtio-net device is before the agent configures it; what the kernel then has is read with `ip`.</summary>
public sealed partial class GuestNetworkSetupTests : IDisposable
{
    private readonly string _name = "sbxg-" + Guid.NewGuid().ToString("N")[..8];

    public GuestNetworkSetupTests()
    {
        Ip("netns", "add", _name);
        try
        {
            // A veth pair inside the namespace (its peer, eth1, stays down): a device as unconfigured as a guest's NIC.
            Ip("-n", _name, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    [Fact]
    public void Eth0_gets_the_mtu_address_prefix_and_default_route()
    {
        InNamespace(() => GuestNetworkSetup.Apply(new GuestNetwork { Address = "10.202.7.9", PrefixLength = 26, Gateway = "10.202.7.1", Mtu = 1450 }));
        var link = Ip("-n", _name, "-o", "link", "show", "eth0");
        Assert.Contains(" mtu 1450 ", link);
        Assert.Contains("inet 10.202.7.9/26 ", Ip("-n", _name, "-o", "-4", "addr", "show", "eth0"));
        Assert.Contains("default via 10.202.7.1 dev eth0", Ip("-n", _name, "-4", "route", "show"));
        Assert.Contains("UP", Ip("-n", _name, "-br", "link", "show", "lo"));
    }

    [Fact]
    public void No_mtu_leaves_the_devices_own()
    {
        InNamespace(() => GuestNetworkSetup.Apply(new GuestNetwork { Address = "10.202.8.9", PrefixLength = 24, Gateway = "10.202.8.1" }));
        Assert.Contains(" mtu 1500 ", Ip("-n", _name, "-o", "link", "show", "eth0"));
    }

    [Theory]
    [InlineData(100u)]
    [InlineData(70000u)]
    public void An_mtu_out_of_range_is_refused_naming_it_before_anything_changes(uint mtu)
    {
        var e = Assert.Throws<TtrpcException>(() => InNamespace(() =>
            GuestNetworkSetup.Apply(new GuestNetwork { Address = "10.202.9.9", PrefixLength = 24, Gateway = "10.202.9.1", Mtu = mtu })));
        Assert.Equal(StatusCode.InvalidArgument, e.Code);
        Assert.Contains($"network mtu {mtu}", e.Message);
        Assert.DoesNotContain("inet ", Ip("-n", _name, "-o", "-4", "addr", "show", "eth0"));
    }

    /// <summary>Runs <paramref name="action"/> on a thread of its own moved into the test's namespace (setns changes
    /// only the calling thread's), so the test process's own network is never touched.</summary>
    private void InNamespace(Action action)
    {
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var netns = File.OpenHandle("/run/netns/" + _name, FileMode.Open, FileAccess.Read);
                if (setns((int)netns.DangerousGetHandle(), 0x40000000 /* CLONE_NEWNET */) != 0)
                    throw new IOException("setns: errno " + Marshal.GetLastPInvokeError());
                action();
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        thread.Join();
        if (failure is not null)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setns(int fd, int nstype);

    private static string Ip(params string[] args)
    {
        var start = new ProcessStartInfo("/usr/sbin/ip") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEnd();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"ip {string.Join(' ', args)}: exit {process.ExitCode}: {stderr}");
        return stdout;
    }

    public void Dispose() => Ip("netns", "delete", _name);
}
