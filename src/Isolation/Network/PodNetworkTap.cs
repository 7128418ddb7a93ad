using System.Net;
using System.Net.NetworkInformation;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using Sandbox.Isolation.Interop;

namespace Sandbox.Isolation.Network;

/// <summary>The pod's interface as CNI configured it in the pod's network namespace: what a microVM's guest takes over
/// (its NIC gets the MAC, its eth0 the address, prefix, default route and MTU).</summary>
public sealed record PodInterface(string Name, PhysicalAddress Mac, IPAddress Address, int PrefixLength, IPAddress Gateway, int Mtu);

/// <summary>
/// A CNI pod network handed to a microVM, as Kata does it (tc filter mode): in the pod's network namespace a tap device
/// is joined to the CNI's interface by tc mirred both ways — every frame arriving on one is redirected to the other's
/// egress — so the pod's veth carries the VM's NIC's frames unchanged, and the host stack of the namespace sees none of
/// them. The tap is opened by the host from a thread inside the namespace (a tap is made in its opener's namespace) and
/// its descriptor (<see cref="Tap"/>) is what QEMU gets (-netdev tap,fd=N): QEMU keeps its own empty namespace and
/// cannot reconfigure anything. Closing the descriptor deletes the tap and its filter; <see cref="Dispose"/> removes
/// the ingress qdisc it added to the CNI's interface. Nothing else of the namespace changes.
/// </summary>
public sealed class PodNetworkTap : IDisposable
{
    /// <summary>The tap's name in the pod's namespace (one VM per pod, so one tap).</summary>
    public const string TapName = "sbxtap0";

    private readonly NetworkOptions _options;
    private readonly string _netnsPath;
    private readonly string _tcPath;
    private readonly System.Runtime.InteropServices.SafeHandle? _heldNamespace;
    private int _disposed;

    private PodNetworkTap(NetworkOptions options, string netnsPath, string tcPath, SafeFileHandle tap, PodInterface pod,
        System.Runtime.InteropServices.SafeHandle? heldNamespace) =>
        (_options, _netnsPath, _tcPath, Tap, Interface, _heldNamespace) = (options, netnsPath, tcPath, tap, pod, heldNamespace);

    /// <summary>The tap's descriptor (/dev/net/tun attached to <see cref="TapName"/>), for QEMU.</summary>
    public SafeFileHandle Tap { get; }

    public PodInterface Interface { get; }

    /// <summary>Reads the CNI's interface (the one the default route leaves by: one IPv4 address, a MAC), opens the tap
    /// in the namespace and sets the redirects. Fails naming what the namespace lacks; nothing is left on failure.</summary>
    public static Task<PodNetworkTap> CreateAsync(NetworkOptions options, string netnsPath, string tcPath = "/usr/sbin/tc") =>
        CreateAsync(options, netnsPath, netnsPath, tcPath, null);

    /// <summary>The same in an orchestrator's namespace checked by <see cref="NetworkNamespaceFile"/> (never the host's):
    /// its descriptor is opened (and checked again) once and held until <see cref="Dispose"/>, and every step works
    /// through it (/proc/PID/fd/N), so no step can land in another namespace swapped in at the path meanwhile.</summary>
    public static async Task<PodNetworkTap> CreateAsync(NetworkOptions options, NetworkNamespaceFile netns, string tcPath = "/usr/sbin/tc")
    {
        var held = netns.OpenNetworkNamespace();
        try
        {
            return await CreateAsync(options, $"/proc/{Environment.ProcessId}/fd/{held.DangerousGetHandle()}", netns.Path, tcPath, held).ConfigureAwait(false);
        }
        catch
        {
            held.Dispose();
            throw;
        }
    }

    /// <param name="netnsPath">Where the namespace is opened (by this process and by nsenter).</param>
    /// <param name="name">What errors call it.</param>
    private static async Task<PodNetworkTap> CreateAsync(NetworkOptions options, string netnsPath, string name, string tcPath,
        System.Runtime.InteropServices.SafeHandle? held)
    {
        var pod = await ReadInterfaceAsync(options, netnsPath, name).ConfigureAwait(false);
        var tap = OpenTapIn(netnsPath, name);
        var tapNetwork = new PodNetworkTap(options, netnsPath, tcPath, tap, pod, held);
        try
        {
            await tapNetwork.InNamespaceAsync(options.IpPath, "link", "set", TapName, "mtu", pod.Mtu.ToString(), "up").ConfigureAwait(false);
            foreach (var (from, to) in new[] { (pod.Name, TapName), (TapName, pod.Name) })
            {
                await tapNetwork.InNamespaceAsync(tcPath, "qdisc", "add", "dev", from, "ingress").ConfigureAwait(false);
                await tapNetwork.InNamespaceAsync(tcPath, "filter", "add", "dev", from, "parent", "ffff:", "protocol", "all",
                    "u32", "match", "u8", "0", "0", "action", "mirred", "egress", "redirect", "dev", to).ConfigureAwait(false);
            }
            return tapNetwork;
        }
        catch
        {
            tapNetwork.Dispose(keepNamespace: true);
            throw;
        }
    }

    /// <summary>The interface the namespace's IPv4 default route leaves by, with its one IPv4 address.</summary>
    internal static async Task<PodInterface> ReadInterfaceAsync(NetworkOptions options, string netnsPath, string name)
    {
        using var routes = JsonDocument.Parse(await HostCommand.RunAsync([options.NsenterPath, "--net=" + netnsPath, "--",
            options.IpPath, "-j", "-4", "route", "show", "default"]).ConfigureAwait(false));
        var defaults = routes.RootElement.EnumerateArray().ToList();
        if (defaults.Count != 1 || !defaults[0].TryGetProperty("dev", out var devProperty) || !defaults[0].TryGetProperty("gateway", out var gatewayProperty)
            || !IPAddress.TryParse(gatewayProperty.GetString(), out var gateway))
            throw new SandboxException(SandboxErrorCode.FailedPrecondition,
                $"the pod's network namespace {name} has {defaults.Count} IPv4 default routes: one through a gateway is needed to give a microVM the pod's network");
        var dev = devProperty.GetString()!;
        using var links = JsonDocument.Parse(await HostCommand.RunAsync([options.NsenterPath, "--net=" + netnsPath, "--",
            options.IpPath, "-j", "addr", "show", "dev", dev]).ConfigureAwait(false));
        var link = links.RootElement.EnumerateArray().Single();
        var addresses = link.GetProperty("addr_info").EnumerateArray().Where(a => a.GetProperty("family").GetString() == "inet").ToList();
        if (addresses.Count != 1)
            throw new SandboxException(SandboxErrorCode.FailedPrecondition,
                $"the pod's interface {dev} in {name} has {addresses.Count} IPv4 addresses: a microVM takes over exactly one");
        var mac = PhysicalAddress.Parse(link.GetProperty("address").GetString()!.Replace(':', '-').ToUpperInvariant());
        return new PodInterface(dev, mac, IPAddress.Parse(addresses[0].GetProperty("local").GetString()!),
            addresses[0].GetProperty("prefixlen").GetInt32(), gateway, link.GetProperty("mtu").GetInt32());
    }

    /// <summary>Opens /dev/net/tun and makes the tap inside the namespace (the descriptor then works from anywhere).</summary>
    private static SafeFileHandle OpenTapIn(string netnsPath, string name) =>
        NetworkNamespaceThread.Run(netnsPath, $"opening a tap in {name}", () =>
        {
            var tap = File.OpenHandle("/dev/net/tun", FileMode.Open, FileAccess.ReadWrite);
            try
            {
                var request = new Libc.IfReqFlags { Flags = Libc.IFF_TAP | Libc.IFF_NO_PI };
                unsafe
                {
                    var name = System.Text.Encoding.ASCII.GetBytes(TapName);
                    for (var i = 0; i < name.Length; i++)
                        request.Name[i] = name[i];
                }
                if (Libc.Ioctl((int)tap.DangerousGetHandle(), Libc.TUNSETIFF, ref request) != 0)
                    throw Errno.Fail($"TUNSETIFF {TapName} in {name}");
                return tap;
            }
            catch
            {
                tap.Dispose();
                throw;
            }
        });

    private Task<string> InNamespaceAsync(string program, params string[] args) =>
        HostCommand.RunAsync([_options.NsenterPath, "--net=" + _netnsPath, "--", program, .. args]);

    public void Dispose() => Dispose(keepNamespace: false);

    /// <param name="keepNamespace">A failed <see cref="CreateAsync(NetworkOptions, NetworkNamespaceFile, string)"/>
    /// closes the held descriptor itself.</param>
    private void Dispose(bool keepNamespace)
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        Tap.Dispose(); // the tap, its qdisc and its filter go with its last descriptor
        try
        {
            InNamespaceAsync(_tcPath, "qdisc", "del", "dev", Interface.Name, "ingress").GetAwaiter().GetResult();
        }
        catch (SandboxException)
        {
            // The namespace went first (CNI's teardown deletes it with the veth): nothing is left to remove.
        }
        if (!keepNamespace)
            _heldNamespace?.Dispose();
    }
}
