using Grpc.Core;
using Sandbox.Shim.Tests.Cri;

namespace Sandbox.Shim.Tests;

/// <summary>The shim as a Kubernetes RuntimeClass: containerd's CRI plugin, handler "sandbox", driven through the CRI
/// gRPC API the way kubelet drives it (pods in the node's network mode, so no CNI is needed). The containers of one pod
/// share one shim daemon; the policy chooses each container's tier from the pod's annotations; nothing (shim, mount,
/// the shim's state) is left once the pod is removed.</summary>
[Collection(ContainerdCollection.Name)]
public sealed class CriTests(ContainerdFixture fixture)
{
    private static readonly string[] Sleep = ["/bin/sleep", "1000"];

    [ShimFact]
    public async Task ContainerTierPod_ExecSyncAndStats_OneShimPerPod_HostDeviceRefusedByName()
    {
        using var cri = new CriClient(fixture.Socket);
        var pod = PodConfig("ct-pod", "container");
        var podId = (await cri.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = pod, RuntimeHandler = ContainerdFixture.CriHandler })).PodSandboxId;
        try
        {
            var first = await StartContainerAsync(cri, podId, pod, "first", Sleep);
            var second = await StartContainerAsync(cri, podId, pod, "second", Sleep);
            // The pause container and both app containers: one shim daemon for the pod (spawned for the pause
            // container, the pod's first), like Kata; none of the app containers got one of its own.
            Assert.Single(ShimsStartedFor(podId));
            Assert.Empty(ShimsStartedFor(first).Concat(ShimsStartedFor(second)));
            Assert.StartsWith("container ", await File.ReadAllTextAsync(TierRecord(first)));

            var exec = await cri.Runtime.ExecSyncAsync(new ExecSyncRequest { ContainerId = first, Cmd = { "/bin/sh", "-c", "echo out; echo err >&2; exit 3" }, Timeout = 60 });
            Assert.Equal(("out\n", "err\n", 3), (exec.Stdout.ToStringUtf8(), exec.Stderr.ToStringUtf8(), exec.ExitCode));

            var stats = (await cri.Runtime.ContainerStatsAsync(new ContainerStatsRequest { ContainerId = first })).Stats;
            Assert.True(stats.Cpu.UsageCoreNanoSeconds.Value > 0, $"cpu usage {stats.Cpu}");
            Assert.True(stats.Memory.WorkingSetBytes.Value > 0, $"memory {stats.Memory}");

            // CRI's pause container asks oomScoreAdj -998 and binds the pod's /dev/shm: both accepted in the form the
            // engine allows, and said in the shim's log.
            var log = fixture.ReadLog();
            Assert.Contains($"container {podId}: process.oomScoreAdj -998 is not applied", log);
            Assert.Contains($"container {podId}: mounts[", log);
            // The pod's labels (kept by CRI as containerd labels, in no bundle) reach the policy.
            Assert.Contains($"container {first}: labels of CRI pod {podId} for the policy: app=ct-pod", log);

            // A host device node is refused, by name.
            var device = await Assert.ThrowsAsync<RpcException>(() => StartContainerAsync(cri, podId, pod, "kmsg", Sleep,
                new Mount { ContainerPath = "/dev/kmsg", HostPath = "/dev/kmsg" }));
            Assert.Contains("/dev/kmsg from the host is not available in a sandbox", device.Status.Detail);
        }
        finally
        {
            await RemovePodAsync(cri, podId);
        }
    }

    [ShimFact]
    public async Task MicroVmPod_ExecSyncAndStatsFromTheGuest()
    {
        using var cri = new CriClient(fixture.Socket);
        var pod = PodConfig("vm-pod", "microvm");
        var podId = (await cri.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = pod, RuntimeHandler = ContainerdFixture.CriHandler })).PodSandboxId;
        try
        {
            var app = await StartContainerAsync(cri, podId, pod, "app", Sleep);
            Assert.StartsWith("microvm ", await File.ReadAllTextAsync(TierRecord(app)));
            Assert.Single(ShimsStartedFor(podId));
            Assert.Empty(ShimsStartedFor(app));

            var exec = await cri.Runtime.ExecSyncAsync(new ExecSyncRequest { ContainerId = app, Cmd = { "/bin/uname", "-r" }, Timeout = 60 });
            Assert.Equal(0, exec.ExitCode);
            // The guest kernel is not the host's.
            Assert.NotEqual((await CommandRunner.RunAsync("/bin/uname", ["-r"])).Stdout, exec.Stdout.ToStringUtf8());

            var stats = (await cri.Runtime.ContainerStatsAsync(new ContainerStatsRequest { ContainerId = app })).Stats;
            Assert.True(stats.Cpu.UsageCoreNanoSeconds.Value > 0, $"cpu usage {stats.Cpu}");
            Assert.True(stats.Memory.WorkingSetBytes.Value > 0, $"memory {stats.Memory}");
            // CRI's /etc/hosts, /etc/hostname, /etc/resolv.conf of the pod are host files: left out of a guest.
            // Kata's one VM per pod is not built: each container of a pod is its own microVM, and the log says so.
            Assert.Contains($"container {app}: one microVM per CRI pod is not supported yet; this container of pod {podId} runs in a microVM of its own", fixture.ReadLog());
            Assert.Contains($"container {app}: CRI's pod files (/etc/hostname, /etc/hosts, /etc/resolv.conf) left out on the microvm tier", fixture.ReadLog());
        }
        finally
        {
            await RemovePodAsync(cri, podId);
        }
    }

    /// <summary>A pod in the node's network mode (no CNI) whose annotations ask the policy for <paramref name="tier"/>
    /// and declare the code the tenant's own (the default policy gives the container tier only to trusted code).</summary>
    private static PodSandboxConfig PodConfig(string name, string tier) => new()
    {
        Metadata = new PodSandboxMetadata { Name = name, Uid = Guid.NewGuid().ToString("N"), Namespace = "default" },
        Labels = { ["app"] = name },
        Annotations = { ["io.sandbox.tier"] = tier, ["io.sandbox.trusted"] = "true" },
        Linux = new LinuxPodSandboxConfig
        {
            SecurityContext = new LinuxSandboxSecurityContext { NamespaceOptions = new NamespaceOption { Network = NamespaceMode.Node } },
        },
    };

    private static async Task<string> StartContainerAsync(CriClient cri, string podId, PodSandboxConfig pod, string name, string[] command, params Mount[] mounts)
    {
        var config = new ContainerConfig
        {
            Metadata = new ContainerMetadata { Name = name },
            Image = new ImageSpec { Image = ContainerdFixture.Image },
            Command = { command },
            Mounts = { mounts },
            Linux = new LinuxContainerConfig
            {
                SecurityContext = new LinuxContainerSecurityContext { NamespaceOptions = new NamespaceOption { Network = NamespaceMode.Node } },
            },
        };
        var id = (await cri.Runtime.CreateContainerAsync(new CreateContainerRequest { PodSandboxId = podId, Config = config, SandboxConfig = pod })).ContainerId;
        await cri.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });
        return id;
    }

    /// <summary>Stop and remove (both idempotent, as kubelet calls them), then: no shim, no mount and no state of the
    /// shim left for the pod.</summary>
    private async Task RemovePodAsync(CriClient cri, string podId)
    {
        await cri.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = podId });
        await cri.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId });
        Assert.Empty(ProcessExit.StillAliveAfter(fixture.LiveShims(), TimeSpan.FromSeconds(20)));
        var shimState = $"/run/sandbox-shim/{ContainerdFixture.CriNamespace}/";
        var mounts = File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4])
            .Where(m => m.StartsWith(shimState, StringComparison.Ordinal) || m.Contains(podId, StringComparison.Ordinal)).ToList();
        Assert.True(mounts.Count == 0, $"left mounted: {string.Join(", ", mounts)}");
        Assert.True(!Directory.Exists(shimState) || !Directory.EnumerateFileSystemEntries(shimState).Any(),
            $"the shim's state was left: {string.Join(", ", Directory.Exists(shimState) ? Directory.EnumerateFileSystemEntries(shimState) : [])}");
    }

    /// <summary>Shim daemons of this containerd spawned for container <paramref name="id"/> (its `-id`).</summary>
    private List<int> ShimsStartedFor(string id) =>
        fixture.LiveShims().Where(pid =>
        {
            try
            {
                return File.ReadAllText($"/proc/{pid}/cmdline").Split('\0').SkipWhile(a => a != "-id").Skip(1).FirstOrDefault() == id;
            }
            catch (IOException)
            {
                return false; // exited meanwhile
            }
        }).ToList();

    private static string TierRecord(string containerId) => $"/run/sandbox-shim/{ContainerdFixture.CriNamespace}/{containerId}/tier";
}
