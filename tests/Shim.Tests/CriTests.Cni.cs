using System.Net.Http;
using System.Text.Json;
using Grpc.Core;
using Sandbox.Shim.Tests.Cri;

namespace Sandbox.Shim.Tests;

/// <summary>Pod networking through CNI: containerd's CRI plugin makes the pod's network namespace
/// (/var/run/netns/cni-…) and runs the fixture's bridge + host-local plugins in it before the pause container starts;
/// the policy decides whether the pod's sandboxes join it (requested network mode "netns"), and the engine joins only
/// a real network namespace's mount.</summary>
public sealed partial class CriTests
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(5) };

    /// <summary>Container tier: the pod gets an address of the fixture's subnet; a server in one app container answers
    /// the host at that address and the other container at 127.0.0.1 (one network namespace, the pod's); the workload
    /// is unprivileged there (no capability, so it cannot change the pod's network); after the pod is removed, no
    /// namespace, veth, process, cgroup, mount or shim is left (containerd's own CNI teardown deletes the namespace).</summary>
    [ShimFact]
    public async Task ContainerTierPod_JoinsItsCniNetwork_ReachableFromTheHost_ContainersShareLocalhost()
    {
        using var cri = new CriClient(fixture.Socket);
        var pod = PodConfig("cni-pod", "container", NamespaceMode.Pod);
        var podId = (await cri.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = pod, RuntimeHandler = ContainerdFixture.CriHandler })).PodSandboxId;
        string netns;
        List<(int Pid, string Cgroup)> sandboxProcesses;
        try
        {
            var ip = (await cri.Runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = podId })).Status.Network.Ip;
            Assert.StartsWith(fixture.PodSubnet[..^4], ip);
            netns = PodNetnsPath(podId);
            Assert.StartsWith("/var/run/netns/cni-", netns);
            Assert.Contains($"container {podId}: tier container chosen by the policy", fixture.ReadLog());

            var server = await StartContainerAsync(cri, podId, pod, "server",
                ["/bin/sh", "-c", "mkdir -p /tmp/www && echo hello-from-pod > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www"]);
            var client = await StartContainerAsync(cri, podId, pod, "client", Sleep);
            Assert.Contains($"container {server}: linux.namespaces[", fixture.ReadLog());
            Assert.Contains($"the container joins the pod's network namespace {netns}", fixture.ReadLog());

            async Task<ExecSyncResponse> Exec(string id, string script) =>
                await cri.Runtime.ExecSyncAsync(new ExecSyncRequest { ContainerId = id, Cmd = { "/bin/sh", "-c", script }, Timeout = 60 });

            // The pod's address is on the sandbox's eth0 (the CNI veth), in both containers.
            foreach (var id in new[] { server, client })
                Assert.Contains($"inet {ip}/24", (await Exec(id, "ip -4 addr show eth0")).Stdout.ToStringUtf8());
            // The host reaches the server at the pod's address (port 80: the pod's namespace lets its unprivileged
            // users bind it, as a pod's root could under runc).
            Assert.Equal("hello-from-pod\n", await GetWhenServingAsync($"http://{ip}/index.html"));
            // The other container reaches it on localhost: one network namespace for the pod.
            var local = await Exec(client, "wget -q -O - http://127.0.0.1/index.html");
            Assert.True(local.ExitCode == 0, $"wget from the other container: {local.Stderr.ToStringUtf8()}");
            Assert.Equal("hello-from-pod\n", local.Stdout.ToStringUtf8());
            // The workload cannot change the pod's network: the namespace belongs to the host's user namespace, where
            // the sandbox has no capability (runc would give a pod's root none of CAP_NET_ADMIN either).
            var change = await Exec(client, "ip addr add 10.255.255.1/32 dev eth0 || exit 7; exit 0");
            Assert.Equal(7, change.ExitCode);
            Assert.Contains("Operation not permitted", change.Stderr.ToStringUtf8());

            // From the host: every process in the pod's namespace is a sandbox's (bwrap, the agents, the workloads),
            // and the server runs as an unprivileged host uid with no capability.
            sandboxProcesses = ProcessesIn(netns);
            var httpd = sandboxProcesses.Select(p => p.Pid).Where(p => Comm(p) == "httpd").ToList();
            Assert.Single(httpd);
            var status = File.ReadAllLines($"/proc/{httpd[0]}/status");
            Assert.Equal("0000000000000000", status.First(l => l.StartsWith("CapEff:", StringComparison.Ordinal)).Split('\t')[1]);
            Assert.DoesNotContain("\t0\t", status.First(l => l.StartsWith("Uid:", StringComparison.Ordinal)) + "\t");
        }
        finally
        {
            await RemovePodAsync(cri, podId);
        }
        Assert.False(File.Exists(netns), $"the pod's network namespace {netns} was left");
        Assert.Empty(Directory.EnumerateFileSystemEntries($"/sys/class/net/{fixture.CniBridge}/brif"));
        // The sandboxes' cgroups (under the shim's cgroup parent) and every process that was in the pod's namespace.
        var cgroups = sandboxProcesses.Select(p => p.Cgroup).Where(c => c.Contains("/sandbox-shim", StringComparison.Ordinal)).Distinct().ToList();
        Assert.NotEmpty(cgroups);
        foreach (var (pid, _) in sandboxProcesses)
            Assert.True(ProcessExit.WaitFor(pid, TimeSpan.FromSeconds(60)), $"process {pid} of the pod outlived it");
        foreach (var cgroup in cgroups)
            Assert.False(Directory.Exists(cgroup), $"cgroup {cgroup} of the pod was left");
    }

    /// <summary>The policy refuses the join (the default bundle refuses it for pods labelled
    /// sandbox.io/pod-network=refused): RunPodSandbox fails naming the reason, and nothing is left (containerd tears
    /// the CNI network down, the shim ends).</summary>
    [ShimFact]
    public async Task PodWhoseJoinThePolicyRefuses_FailsNamingTheReason()
    {
        using var cri = new CriClient(fixture.Socket);
        var pod = PodConfig("cni-refused", "container", NamespaceMode.Pod);
        pod.Labels["sandbox.io/pod-network"] = "refused";
        var before = NetnsFiles();
        var e = await Assert.ThrowsAsync<RpcException>(() => cri.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = pod, RuntimeHandler = ContainerdFixture.CriHandler }).ResponseAsync);
        Assert.Contains("is refused for pods labelled sandbox.io/pod-network=refused", e.Status.Detail);
        Assert.Empty(ProcessExit.StillAliveAfter(fixture.LiveShims(), TimeSpan.FromSeconds(60)));
        Assert.Empty(NetnsFiles().Except(before));
    }

    /// <summary>MicroVM tier, as Kata does it: the pod's VM takes over the interface CNI made in the pod's namespace
    /// (a tap there joined to it by tc, the tap's descriptor QEMU's NIC, the guest's eth0 with the pod's MAC, address
    /// and MTU), and both app containers run in that VM. A server the test runs on the host at the bridge's address
    /// answers the containers; a busybox httpd in one container answers the host at the pod's address and the other
    /// container through the same address. The host's network is never the VM's (QEMU's own namespace holds only
    /// loopback; no tap on the host). After the pod is removed: no namespace (so no tap or redirect), bridge port,
    /// QEMU, cgroup, state directory, mount or shim.</summary>
    [ShimFact]
    public async Task MicroVmPod_TakesOverItsCniNetwork_ReachableBothWays_ContainersReachEachOther()
    {
        using var cri = new CriClient(fixture.Socket);
        var pod = PodConfig("cni-vm", "microvm", NamespaceMode.Pod);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var podId = (await cri.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = pod, RuntimeHandler = ContainerdFixture.CriHandler })).PodSandboxId;
        output.WriteLine($"RunPodSandbox (the pod's VM cold-boots on the pod's network) {clock.Elapsed.TotalMilliseconds:0} ms; load {File.ReadAllText("/proc/loadavg").Trim()}");
        string netns;
        PodVm vm;
        using var target = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Parse(fixture.PodGateway), 0);
        using var stop = new CancellationTokenSource();
        Task? serving = null;
        try
        {
            var ip = (await cri.Runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = podId })).Status.Network.Ip;
            Assert.StartsWith(fixture.PodSubnet[..^4], ip);
            netns = PodNetnsPath(podId);
            Assert.StartsWith("/var/run/netns/cni-", netns);
            Assert.Contains($"container {podId}: tier microvm chosen by the policy", fixture.ReadLog());
            var shim = Assert.Single(ShimsStartedFor(podId));
            vm = Assert.Single(PodVm.Below(shim));

            // The host's side: the tap and its redirects in the pod's namespace, nothing on the host's; QEMU in a
            // namespace of its own with loopback only.
            Assert.Contains(PodTapName, (await CommandRunner.RunAsync("/usr/bin/nsenter", [$"--net={netns}", "/usr/sbin/ip", "-br", "link", "show"])).Stdout);
            Assert.Contains("mirred", (await CommandRunner.RunAsync("/usr/bin/nsenter", [$"--net={netns}", "/usr/sbin/tc", "filter", "show", "dev", "eth0", "ingress"])).Stdout);
            Assert.False(Directory.Exists("/sys/class/net/" + PodTapName), "a pod's tap is on the host's network");
            var qemuLinks = (await CommandRunner.RunAsync("/usr/bin/nsenter", [$"--net=/proc/{vm.QemuPid}/ns/net", "/usr/sbin/ip", "-br", "link", "show"])).Stdout;
            Assert.Equal(["lo"], qemuLinks.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[0]));

            target.Start();
            var port = ((System.Net.IPEndPoint)target.LocalEndpoint).Port;
            serving = ServeHelloAsync(target, stop.Token);
            // Port 8080: in the guest, as in any Linux, ports below 1024 are root's, and the workload is not root.
            var server = await StartContainerAsync(cri, podId, pod, "server",
                ["/bin/sh", "-c", "mkdir -p /tmp/www && echo hello-from-vm-pod > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"]);
            var client = await StartContainerAsync(cri, podId, pod, "client", Sleep);
            Assert.Single(PodVm.Below(shim));
            Assert.Contains($"container {client}: runs in the microVM of pod {podId}", fixture.ReadLog());

            async Task<ExecSyncResponse> Exec(string id, string script) =>
                await cri.Runtime.ExecSyncAsync(new ExecSyncRequest { ContainerId = id, Cmd = { "/bin/sh", "-c", script }, Timeout = 120 });

            // The guest's eth0 is the pod's interface: its address, prefix and MTU (as CNI set it).
            var mtu = ContainerdFixture.PodMtu.ToString();
            foreach (var id in new[] { server, client })
            {
                var eth0 = (await Exec(id, "ip -4 addr show eth0")).Stdout.ToStringUtf8();
                Assert.Contains($"inet {ip}/24", eth0);
                Assert.Contains($" mtu {mtu} ", eth0);
            }
            // A container reaches the host-side target through the pod's gateway.
            var fetched = await Exec(client, $"wget -q -O - http://{fixture.PodGateway}:{port}/");
            Assert.True(fetched.ExitCode == 0, $"wget of the host's target: {fetched.Stderr.ToStringUtf8()}");
            Assert.Equal("hello-from-host\n", fetched.Stdout.ToStringUtf8());
            // The host reaches the server at the pod's address.
            Assert.Equal("hello-from-vm-pod\n", await GetWhenServingAsync($"http://{ip}:8080/index.html"));
            // The other container reaches it through the pod's address (one guest network for the pod).
            var other = await Exec(client, $"wget -q -O - http://{ip}:8080/index.html");
            Assert.True(other.ExitCode == 0, $"wget from the other container: {other.Stderr.ToStringUtf8()}");
            Assert.Equal("hello-from-vm-pod\n", other.Stdout.ToStringUtf8());
            // The workload cannot change the pod's network inside the guest either.
            var change = await Exec(client, "ip addr add 10.255.255.1/32 dev eth0 || exit 7; exit 0");
            Assert.Equal(7, change.ExitCode);
        }
        finally
        {
            try { await RemovePodAsync(cri, podId); }
            catch (Exception) when (WriteLogTail()) { }
            stop.Cancel();
            target.Stop();
            if (serving is not null)
                await serving;
        }
        Assert.False(File.Exists(netns), $"the pod's network namespace {netns} was left");
        Assert.Empty(Directory.EnumerateFileSystemEntries($"/sys/class/net/{fixture.CniBridge}/brif"));
        Assert.False(Directory.Exists("/sys/class/net/" + PodTapName));
        Assert.True(ProcessExit.WaitFor(vm.QemuPid, TimeSpan.FromSeconds(60)), $"QEMU {vm.QemuPid} outlived its pod");
        Assert.False(Directory.Exists(vm.CgroupDirectory), $"the VM's cgroup {vm.CgroupDirectory} was left");
        Assert.False(Directory.Exists(vm.StateDirectory), $"the VM's state directory {vm.StateDirectory} was left");
    }

    /// <summary>The tap a microVM pod's host side makes in the pod's namespace (Isolation's PodNetworkTap.TapName).</summary>
    private const string PodTapName = "sbxtap0";

    /// <summary>containerd's log (the shim's lines included) into the test's output when the pod's removal fails; false,
    /// so the failure goes on as it was.</summary>
    private bool WriteLogTail()
    {
        foreach (var l in fixture.ReadLog().Split('\n').TakeLast(120)) output.WriteLine(l);
        return false;
    }

    /// <summary>Answers each connection with a minimal HTTP response, "hello-from-host".</summary>
    private static async Task ServeHelloAsync(System.Net.Sockets.TcpListener listener, CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                using var connection = await listener.AcceptTcpClientAsync(stop);
                var stream = connection.GetStream();
                _ = await stream.ReadAsync(new byte[4096], stop); // the request (one small segment)
                await stream.WriteAsync("HTTP/1.0 200 OK\r\nContent-Length: 16\r\n\r\nhello-from-host\n"u8.ToArray(), stop);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or System.Net.Sockets.SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task<string> GetWhenServingAsync(string url)
    {
        // The server starts asynchronously: retried until it answers (bounded), never timed.
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await Http.GetStringAsync(url);
            }
            catch (HttpRequestException) when (attempt < 60)
            {
                await Task.Delay(500);
            }
        }
    }

    /// <summary>The network namespace CRI gave the pod's sandbox container (its bundle's config.json).</summary>
    private string PodNetnsPath(string podId)
    {
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(fixture.Dir, "state/io.containerd.runtime.v2.task", ContainerdFixture.CriNamespace, podId, "config.json")));
        return config.RootElement.GetProperty("linux").GetProperty("namespaces").EnumerateArray()
            .First(n => n.GetProperty("type").GetString() == "network").GetProperty("path").GetString()!;
    }

    /// <summary>The CNI network namespaces CRI made (cni-…): /var/run/netns is the host's, and the test projects running
    /// beside this one add and remove their own there meanwhile (egress sandboxes' sandbox-…, pod network tests').</summary>
    private static HashSet<string> NetnsFiles() =>
        Directory.Exists("/var/run/netns") ? [.. Directory.EnumerateFileSystemEntries("/var/run/netns", "cni-*")] : [];

    /// <summary>Host processes whose network namespace is the one mounted at <paramref name="netns"/>, with their cgroup
    /// directories.</summary>
    private static List<(int Pid, string Cgroup)> ProcessesIn(string netns)
    {
        var inode = CommandRunner.RunAsync("/usr/bin/stat", ["-L", "-c", "%i", netns]).GetAwaiter().GetResult().Stdout.Trim();
        var result = new List<(int, string)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
                continue;
            try
            {
                if (new FileInfo(Path.Combine(dir, "ns/net")).LinkTarget != $"net:[{inode}]")
                    continue;
                // cgroup v2: "0::PATH"; v1: the pids controller's line "N:pids:PATH" (where the engine places sandboxes).
                var lines = File.ReadAllLines(Path.Combine(dir, "cgroup")).Select(l => l.Split(':', 3)).ToList();
                var cgroup = lines.FirstOrDefault(l => l[1] == "pids") is { } v1 ? "/sys/fs/cgroup/pids" + v1[2]
                    : "/sys/fs/cgroup" + lines.First(l => l[0] == "0")[2];
                result.Add((pid, cgroup));
            }
            catch (IOException)
            {
                // exited meanwhile
            }
        }
        return result;
    }

    private static string Comm(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").Trim();
        }
        catch (IOException)
        {
            return "";
        }
    }
}
