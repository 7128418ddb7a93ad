using Grpc.Core;
using Sandbox.Shim.Tests.Cri;

namespace Sandbox.Shim.Tests;

/// <summary>The shim as a Kubernetes RuntimeClass: containerd's CRI plugin, handler "sandbox", driven through the CRI
/// gRPC API the way kubelet drives it (pods in the node's network mode, so no CNI is needed). The containers of one pod
/// share one shim daemon; the policy chooses each container's tier from the pod's annotations; nothing (shim, mount,
/// the shim's state) is left once the pod is removed.</summary>
[Collection(ContainerdCollection.Name)]
public sealed partial class CriTests(ContainerdFixture fixture, Xunit.Abstractions.ITestOutputHelper output)
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

    /// <summary>Kata's one VM per pod: the pause container's microVM takes the app containers. From the host: one QEMU
    /// below the pod's shim for three containers. Inside: both app containers run on that guest's kernel (same boot
    /// id, not the host's), each in a root, mount table, pid view and /tmp of its own, unprivileged under a seccomp
    /// filter; the pause container in a pid namespace of its own too, seeing neither. Removing one container leaves the other running; removing the pod leaves no QEMU, cgroup, state
    /// directory (sockets, pod share), mount or shim.</summary>
    [ShimFact]
    public async Task MicroVmPod_ContainersShareThePodsVm_EachInItsOwnRoot()
    {
        using var cri = new CriClient(fixture.Socket);
        var pod = PodConfig("vm-pod", "microvm");
        // Times are printed, never asserted (the host is shared): the pod's VM boot, then each container added to it.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var podId = (await cri.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = pod, RuntimeHandler = ContainerdFixture.CriHandler })).PodSandboxId;
        var podStarted = clock.Elapsed;
        PodVm? vm = null;
        try
        {
            var first = await StartContainerAsync(cri, podId, pod, "first", ["/bin/sleep", "1001"]);
            var firstStarted = clock.Elapsed;
            var second = await StartContainerAsync(cri, podId, pod, "second", ["/bin/sleep", "1002"]);
            output.WriteLine($"RunPodSandbox {podStarted.TotalMilliseconds:0} ms; create+start: first {(firstStarted - podStarted).TotalMilliseconds:0} ms, " +
                $"second {(clock.Elapsed - firstStarted).TotalMilliseconds:0} ms; load {File.ReadAllText("/proc/loadavg").Trim()}");
            Assert.StartsWith("microvm ", await File.ReadAllTextAsync(TierRecord(first)));
            Assert.StartsWith("microvm ", await File.ReadAllTextAsync(TierRecord(second)));
            var shim = Assert.Single(ShimsStartedFor(podId));
            // Three containers, one QEMU: the pause container's.
            vm = Assert.Single(PodVm.Below(shim));
            Assert.Equal(2, vm.SharedImages.Count);
            output.WriteLine($"the pod's one QEMU: {File.ReadLines($"/proc/{vm.QemuPid}/smaps_rollup").First(l => l.StartsWith("Pss:", StringComparison.Ordinal))} (three containers)");
            var log = fixture.ReadLog();
            Assert.Contains($"container {first}: runs in the microVM of pod {podId}", log);
            Assert.Contains($"container {second}: runs in the microVM of pod {podId}", log);

            async Task<string> Run(string id, string script)
            {
                var exec = await cri.Runtime.ExecSyncAsync(new ExecSyncRequest { ContainerId = id, Cmd = { "/bin/sh", "-c", script }, Timeout = 120 });
                Assert.True(exec.ExitCode == 0, $"{id}: {script}: exit {exec.ExitCode}, {exec.Stderr.ToStringUtf8()}");
                return exec.Stdout.ToStringUtf8().Trim();
            }
            // One guest kernel: the same boot id in both, not the host's.
            var bootId = await Run(first, "cat /proc/sys/kernel/random/boot_id");
            Assert.Equal(bootId, await Run(second, "cat /proc/sys/kernel/random/boot_id"));
            Assert.NotEqual((await File.ReadAllTextAsync("/proc/sys/kernel/random/boot_id")).Trim(), bootId);
            // Each its own root: an overlay mount of its own (mount ids are the kernel's, unique across namespaces)...
            const string RootMount = "awk '$5 == \"/\" { for (i = 7; i <= NF; i++) if ($i == \"-\") { print $1, $(i + 1); exit } }' /proc/self/mountinfo";
            var firstRoot = await Run(first, RootMount);
            var secondRoot = await Run(second, RootMount);
            Assert.EndsWith(" overlay", firstRoot);
            Assert.EndsWith(" overlay", secondRoot);
            Assert.NotEqual(firstRoot, secondRoot);
            // ...its own /tmp, and nothing of the pause container's root or the pod share in its mount table.
            await Run(first, "echo mine > /tmp/first-was-here");
            Assert.Equal("absent", await Run(second, "test -e /tmp/first-was-here && echo present || echo absent"));
            Assert.Equal("0", await Run(second, "grep -c -e ' 9p ' -e erofs /proc/self/mountinfo || true"));
            // Its own pid view: the other container's process is not there; its own is (the bracket keeps grep from
            // matching this very command line).
            Assert.Equal("0", await Run(second, "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' ' | grep -c 'sleep 100[1]' || true"));
            Assert.Equal("1", await Run(second, "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' ' | grep -c 'sleep 100[2]' || true"));
            // Unprivileged, under the seccomp filter, no capability.
            Assert.Equal("1000 0000000000000000 2", await Run(second, "echo $(id -u) $(awk '/^Seccomp:/ { print $2 } /^CapEff:/ { print $2 }' /proc/self/status)"));

            // The pause container (the pod VM's own workload, exec'd into through containerd's task API) has a pid
            // namespace of its own as well: its `sleep infinity` is there, no app container's process is, and it holds
            // no /sys (every container's cgroup) either.
            async Task<string> InPause(string script)
            {
                var exec = await fixture.CtrInAsync(ContainerdFixture.CriNamespace, ["task", "exec", "--exec-id", "look" + Guid.NewGuid().ToString("N")[..8], podId,
                    "/bin/sh", "-c", script]);
                Assert.True(exec.ExitCode == 0, $"pause: {script}: {exec}");
                return exec.Stdout.Trim();
            }
            const string Commands = "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '";
            var pauseView = await InPause($"id -u; {Commands}");
            output.WriteLine($"the pause container's view: {pauseView}");
            Assert.Contains("sleep infinity", pauseView);
            Assert.DoesNotContain("sleep 1001", pauseView);
            Assert.DoesNotContain("sleep 1002", pauseView);
            Assert.Equal("no-sys", await InPause("ls /sys/fs/cgroup >/dev/null 2>&1 && echo sys || echo no-sys"));
            Assert.Equal(bootId, await InPause("cat /proc/sys/kernel/random/boot_id"));

            // The container's own usage (its cgroup in the guest), not the pod VM's (hundreds of MiB of QEMU).
            var stats = (await cri.Runtime.ContainerStatsAsync(new ContainerStatsRequest { ContainerId = second })).Stats;
            Assert.True(stats.Cpu.UsageCoreNanoSeconds.Value > 0, $"cpu usage {stats.Cpu}");
            Assert.True(stats.Memory.WorkingSetBytes.Value is > 0 and < 64L << 20, $"memory {stats.Memory}");
            // CRI's /etc/hosts, /etc/hostname, /etc/resolv.conf of the pod are host files: left out of a guest.
            Assert.Contains($"container {first}: CRI's pod files (/etc/hostname, /etc/hosts, /etc/resolv.conf) left out on the microvm tier", log);

            // One container removed: its image leaves the share, the other goes on in the same VM.
            await cri.Runtime.StopContainerAsync(new StopContainerRequest { ContainerId = first, Timeout = 5 });
            await cri.Runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = first });
            Assert.Single(vm.SharedImages);
            Assert.Equal(bootId, await Run(second, "cat /proc/sys/kernel/random/boot_id"));
            Assert.Equal(vm.QemuPid, Assert.Single(PodVm.Below(shim)).QemuPid);
        }
        finally
        {
            await RemovePodAsync(cri, podId);
        }
        Assert.True(ProcessExit.WaitFor(vm.QemuPid, TimeSpan.FromSeconds(60)), $"QEMU {vm.QemuPid} outlived its pod");
        Assert.False(Directory.Exists(vm.CgroupDirectory), $"the VM's cgroup {vm.CgroupDirectory} was left");
        Assert.False(Directory.Exists(vm.StateDirectory), $"the VM's state directory {vm.StateDirectory} (sockets, pod share) was left");
    }

    /// <summary>A pod in the node's network mode (no CNI) whose annotations ask the policy for <paramref name="tier"/>
    /// and declare the code the tenant's own (the default policy gives the container tier only to trusted code).</summary>
    /// <param name="network">Node: the node's network mode (no CNI); Pod: a network of the pod's own, set up by CNI.</param>
    private static PodSandboxConfig PodConfig(string name, string tier, NamespaceMode network = NamespaceMode.Node) => new()
    {
        Metadata = new PodSandboxMetadata { Name = name, Uid = Guid.NewGuid().ToString("N"), Namespace = "default" },
        Labels = { ["app"] = name },
        Annotations = { ["io.sandbox.tier"] = tier, ["io.sandbox.trusted"] = "true" },
        Linux = new LinuxPodSandboxConfig
        {
            SecurityContext = new LinuxSandboxSecurityContext { NamespaceOptions = new NamespaceOption { Network = network } },
        },
    };

    /// <summary>The containers this test created (xUnit makes a class instance per test): the leak checks look at these
    /// and the pod only, since other containerds on the host (other test runs) keep CRI state under the same path.</summary>
    private readonly List<string> _created = [];

    private async Task<string> StartContainerAsync(CriClient cri, string podId, PodSandboxConfig pod, string name, string[] command, params Mount[] mounts)
    {
        var network = pod.Linux.SecurityContext.NamespaceOptions.Network;
        var config = new ContainerConfig
        {
            Metadata = new ContainerMetadata { Name = name },
            Image = new ImageSpec { Image = ContainerdFixture.Image },
            Command = { command },
            Mounts = { mounts },
            Linux = new LinuxContainerConfig
            {
                SecurityContext = new LinuxContainerSecurityContext { NamespaceOptions = new NamespaceOption { Network = network } },
            },
        };
        var id = (await cri.Runtime.CreateContainerAsync(new CreateContainerRequest { PodSandboxId = podId, Config = config, SandboxConfig = pod })).ContainerId;
        _created.Add(id);
        await cri.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });
        return id;
    }

    /// <summary>Stop and remove (both idempotent, as kubelet calls them), then: no shim, no mount and no state of the
    /// shim left for the pod.</summary>
    private async Task RemovePodAsync(CriClient cri, string podId)
    {
        await cri.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = podId });
        await cri.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = podId });
        Assert.Empty(ProcessExit.StillAliveAfter(fixture.LiveShims(), TimeSpan.FromSeconds(60)));
        var shimState = $"/run/sandbox-shim/{ContainerdFixture.CriNamespace}/";
        string[] ours = [podId, .. _created];
        var mounts = File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4])
            .Where(m => ours.Any(id => m.StartsWith(shimState + id + "/", StringComparison.Ordinal) || m.Contains(id, StringComparison.Ordinal))).ToList();
        Assert.True(mounts.Count == 0, $"left mounted: {string.Join(", ", mounts)}");
        var state = ours.Select(id => shimState + id).Where(Directory.Exists).ToList();
        Assert.True(state.Count == 0, $"the shim's state was left: {string.Join(", ", state)}");
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
