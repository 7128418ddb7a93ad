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

    /// <summary>MicroVM tier: joining the pod's CNI network is not built yet, and is refused by name (never a VM
    /// without the pod's network, nor with the host's).</summary>
    [ShimFact]
    public async Task MicroVmPodWithCniNetwork_RefusedByName()
    {
        using var cri = new CriClient(fixture.Socket);
        var pod = PodConfig("cni-vm", "microvm", NamespaceMode.Pod);
        var before = NetnsFiles();
        var e = await Assert.ThrowsAsync<RpcException>(() => cri.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = pod, RuntimeHandler = ContainerdFixture.CriHandler }).ResponseAsync);
        Assert.Contains("(CNI pod networking) is not supported on the microvm tier yet", e.Status.Detail);
        Assert.Empty(ProcessExit.StillAliveAfter(fixture.LiveShims(), TimeSpan.FromSeconds(60)));
        Assert.Empty(NetnsFiles().Except(before));
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

    private static HashSet<string> NetnsFiles() =>
        Directory.Exists("/var/run/netns") ? [.. Directory.EnumerateFileSystemEntries("/var/run/netns")] : [];

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
