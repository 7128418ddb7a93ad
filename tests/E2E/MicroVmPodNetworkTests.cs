using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Sandbox.Isolation;
using Sandbox.Isolation.MicroVm;
using Sandbox.Isolation.Network;

namespace Sandbox.E2E;

/// <summary>A microVM given an orchestrator's network namespace (a CNI pod's: here one the test makes as CNI's bridge
/// plugin leaves it — a veth whose host end has the gateway's address, the pod's end eth0 with the pod's address, MTU
/// and default route): the guest's eth0 takes the pod's MAC, address, prefix and MTU; a server the test runs on the
/// host side answers the guest, and a server in the guest answers the host at the pod's address. QEMU stays in its
/// jail's empty namespace. After the VM, and after a failed start, nothing of it is left in the namespace (tap,
/// redirects) nor a descriptor of the namespace in this process.</summary>
[Collection(SerialCollection.Name)]
public sealed class MicroVmPodNetworkTests : IDisposable
{
    private readonly string _name = "sbxv-" + Guid.NewGuid().ToString("N")[..8];
    private readonly int _subnet = Random.Shared.Next(1, 255);
    private string HostVeth => "vh" + _name[5..];
    private string NetnsPath => "/run/netns/" + _name;
    private string Pod => $"10.203.{_subnet}.2";
    private string Gateway => $"10.203.{_subnet}.1";

    public MicroVmPodNetworkTests()
    {
        Run("ip", "netns", "add", _name);
        Run("ip", "link", "add", HostVeth, "type", "veth", "peer", "name", "eth0", "netns", _name);
        Run("ip", "addr", "add", Gateway + "/24", "dev", HostVeth);
        Run("ip", "link", "set", HostVeth, "mtu", "1400", "up");
        Run("ip", "-n", _name, "addr", "add", Pod + "/24", "dev", "eth0");
        Run("ip", "-n", _name, "link", "set", "eth0", "mtu", "1400", "up");
        Run("ip", "-n", _name, "route", "add", "default", "via", Gateway);
    }

    [Fact]
    public async Task The_guest_takes_over_the_pods_interface_and_both_sides_reach_each_other()
    {
        var podMac = Run("ip", "-n", _name, "-br", "link", "show", "eth0").Split(' ', StringSplitOptions.RemoveEmptyEntries)[2];
        using var listener = new TcpListener(IPAddress.Parse(Gateway), 0);
        listener.Start();
        using var stop = new CancellationTokenSource();
        var server = ServeAsync(listener, stop.Token);
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        Sandbox.Tests.Common.HostProcess.Identity qemu;
        await using (var sandbox = (MicroVmSandbox)await Harness.VmDriver.CreateAsync(new SandboxSpec { NetworkOf = NetworkNamespaceFile.Open(NetnsPath) },
            CancellationToken.None))
        {
            var eth0 = await Exec(sandbox, "busybox ip link show eth0; busybox ip -4 -o addr show eth0; busybox ip -4 route show default");
            Assert.Contains($"link/ether {podMac} ", eth0);
            Assert.Contains(" mtu 1400 ", eth0);
            Assert.Contains($"inet {Pod}/24", eth0);
            Assert.Contains($"default via {Gateway} dev eth0", eth0);
            // The guest reaches a server on the host side of the pod's network.
            Assert.Equal("hello-from-host\n", await Exec(sandbox, $"busybox wget -q -O - http://{Gateway}:{port}/"));
            // The host reaches a server in the guest at the pod's address.
            await Exec(sandbox, "mkdir -p /tmp/www && echo hello-from-guest > /tmp/www/index.html && (busybox httpd -p 8080 -h /tmp/www &)");
            Assert.Equal("hello-from-guest\n", await GetWhenServingAsync($"http://{Pod}:8080/index.html"));

            // QEMU's own namespace has nothing but loopback: the NIC is the descriptor, not a device QEMU can see.
            var qemuPid = PodVm(sandbox);
            qemu = Sandbox.Tests.Common.HostProcess.Identify(qemuPid) ?? throw new Xunit.Sdk.XunitException($"QEMU {qemuPid} is gone already");
            Assert.NotEqual(NetnsInode($"/proc/{qemuPid}/ns/net"), NetnsInode(NetnsPath));
            Assert.Equal("lo", Run("nsenter", $"--net=/proc/{qemuPid}/ns/net", "ip", "-br", "link", "show").Split(' ')[0]);
            Assert.Contains(PodNetworkTap.TapName, Run("ip", "-n", _name, "-br", "link", "show"));
            Assert.Single(NamespaceDescriptorsHeld());
        }
        Assert.True(await Sandbox.Tests.Common.HostProcess.ExitedWithinAsync(qemu, TimeSpan.FromSeconds(60)), $"QEMU {qemu.Pid} outlived its sandbox");
        AssertNothingLeft();
        stop.Cancel();
        listener.Stop();
        await server;
    }

    [Fact]
    public async Task A_failed_start_leaves_no_tap_redirect_or_descriptor()
    {
        // A boot that cannot finish in time: the tap and its redirects were made before QEMU, and are undone.
        var driver = new MicroVmDriver(new MicroVmOptions { AgentDirectory = Harness.AgentDirectory, BootTimeout = TimeSpan.FromMilliseconds(1) });
        await Assert.ThrowsAsync<SandboxException>(() => driver.CreateAsync(new SandboxSpec { NetworkOf = NetworkNamespaceFile.Open(NetnsPath) }, CancellationToken.None));
        AssertNothingLeft();

        // A namespace without a default route is refused naming what it lacks, before anything is made.
        Run("ip", "-n", _name, "route", "del", "default");
        var e = await Assert.ThrowsAsync<SandboxException>(() =>
            Harness.VmDriver.CreateAsync(new SandboxSpec { NetworkOf = NetworkNamespaceFile.Open(NetnsPath) }, CancellationToken.None));
        Assert.Equal(SandboxErrorCode.FailedPrecondition, e.Code);
        Assert.Contains("0 IPv4 default routes", e.Message);
        AssertNothingLeft();
    }

    private void AssertNothingLeft()
    {
        Assert.DoesNotContain(PodNetworkTap.TapName, Run("ip", "-n", _name, "-br", "link", "show"));
        Assert.DoesNotContain("ingress", Run("tc", "-n", _name, "qdisc", "show", "dev", "eth0"));
        Assert.Empty(NamespaceDescriptorsHeld());
    }

    /// <summary>This process's descriptors of the test's namespace.</summary>
    private List<string> NamespaceDescriptorsHeld()
    {
        var target = $"net:[{NetnsInode(NetnsPath)}]";
        return Directory.EnumerateFileSystemEntries("/proc/self/fd").Where(fd =>
        {
            // Opened at its mount, a namespace's descriptor reads as the mount's path; else as net:[INODE].
            try { return new FileInfo(fd).LinkTarget is { } link && (link == target || link == NetnsPath); }
            catch (IOException) { return false; }
        }).ToList();
    }

    private static string NetnsInode(string path) => Run("stat", "-L", "-c", "%i", path).Trim();

    /// <summary>The QEMU of this sandbox: the process under this one whose command line names its state directory.</summary>
    private static int PodVm(MicroVmSandbox sandbox) =>
        Directory.EnumerateDirectories("/proc").Select(d => int.TryParse(Path.GetFileName(d), out var pid) ? pid : 0).Where(pid => pid > 0).First(pid =>
        {
            try
            {
                var argv = File.ReadAllText($"/proc/{pid}/cmdline");
                return argv.StartsWith(Harness.VmDriver.Options.QemuPath + "\0", StringComparison.Ordinal) && argv.Contains($"/{sandbox.Info.Id.Value}/qmp.sock");
            }
            catch (IOException) { return false; }
        });

    private static async Task ServeAsync(TcpListener listener, CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                using var client = await listener.AcceptTcpClientAsync(stop);
                var stream = client.GetStream();
                _ = await stream.ReadAsync(new byte[4096], stop); // the request line and headers (one small segment)
                await stream.WriteAsync("HTTP/1.0 200 OK\r\nContent-Length: 16\r\n\r\nhello-from-host\n"u8.ToArray(), stop);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private static async Task<string> GetWhenServingAsync(string url)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        // The server starts asynchronously in the guest: retried (bounded), never timed.
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await http.GetStringAsync(url);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && attempt < 60)
            {
                await Task.Delay(500);
            }
        }
    }

    private static async Task<string> Exec(ISandbox sandbox, string script)
    {
        var stdout = new MemoryStream();
        var stderr = new MemoryStream();
        var p = await sandbox.ExecAsync(Harness.Sh(script), new ProcessIO { Stdout = stdout, Stderr = stderr }, CancellationToken.None);
        var status = await p.WaitAsync(CancellationToken.None);
        Assert.True(status.ExitCode == 0, $"{script}: exit {status.ExitCode}: {Encoding.UTF8.GetString(stderr.ToArray())}");
        return Encoding.UTF8.GetString(stdout.ToArray());
    }

    private static string Run(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEnd();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{program} {string.Join(' ', args)}: exit {process.ExitCode}: {stderr}");
        return stdout;
    }

    public void Dispose()
    {
        try { Run("ip", "link", "delete", HostVeth); }
        catch (InvalidOperationException) { }
        Run("ip", "netns", "delete", _name);
    }
}
