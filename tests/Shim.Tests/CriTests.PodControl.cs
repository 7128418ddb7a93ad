using Grpc.Core;
using Sandbox.Shim.Tests.Cri;

namespace Sandbox.Shim.Tests;

public sealed partial class CriTests
{
    /// <summary>In a microVM pod (one VM for all its containers) each container is paused, resumed, updated, listed
    /// and signalled alone — its own cgroup in the guest — never the pod's VM: the other container and the pause
    /// container keep running meanwhile.</summary>
    [ShimFact]
    public async Task MicroVmPod_PauseResumeUpdatePsKillAll_ActOnOneContainerOnly()
    {
        using var cri = new CriClient(fixture.Socket);
        var pod = PodConfig("vm-ctl", "microvm");
        var podId = (await cri.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = pod, RuntimeHandler = ContainerdFixture.CriHandler })).PodSandboxId;
        try
        {
            var first = await StartContainerAsync(cri, podId, pod, "first", ["/bin/sh", "-c", "while :; do sleep 1; done"]);
            var second = await StartContainerAsync(cri, podId, pod, "second", ["/bin/sleep", "1003"]);
            Assert.StartsWith("microvm ", await File.ReadAllTextAsync(TierRecord(second)));
            Task<CommandRunner.Result> Ctr(params string[] args) => fixture.CtrInAsync(ContainerdFixture.CriNamespace, args);
            async Task<string> Run(string id, string script)
            {
                var exec = await cri.Runtime.ExecSyncAsync(new ExecSyncRequest { ContainerId = id, Cmd = { "/bin/sh", "-c", script }, Timeout = 120 });
                Assert.True(exec.ExitCode == 0, $"{id}: {script}: exit {exec.ExitCode}, {exec.Stderr.ToStringUtf8()}");
                return exec.Stdout.ToStringUtf8().Trim();
            }
            async Task<ulong> CpuOf(string id) =>
                (await cri.Runtime.ContainerStatsAsync(new ContainerStatsRequest { ContainerId = id })).Stats.Cpu.UsageCoreNanoSeconds.Value;

            // Pause the first container alone: its task is PAUSED, the second and the pause container run on.
            var pause = await Ctr("task", "pause", first);
            Assert.True(pause.ExitCode == 0, pause.ToString());
            var tasks = (await Ctr("task", "ls")).Stdout;
            Assert.Matches($@"{first}\s+\d+\s+PAUSED", tasks);
            Assert.Matches($@"{second}\s+\d+\s+RUNNING", tasks);
            Assert.Matches($@"{podId}\s+\d+\s+RUNNING", tasks);
            Assert.Equal("alive", await Run(second, "echo alive"));
            // Frozen: its loop uses no CPU at all, and it takes no exec until resumed.
            var frozenAt = await CpuOf(first);
            await Task.Delay(1500);
            Assert.Equal(frozenAt, await CpuOf(first));
            var refused = await Assert.ThrowsAnyAsync<RpcException>(() => cri.Runtime.ExecSyncAsync(
                new ExecSyncRequest { ContainerId = first, Cmd = { "/bin/true" }, Timeout = 30 }).ResponseAsync);
            Assert.Contains("paused", refused.Status.Detail);
            var resume = await Ctr("task", "resume", first);
            Assert.True(resume.ExitCode == 0, resume.ToString());
            Assert.Matches($@"{first}\s+\d+\s+RUNNING", (await Ctr("task", "ls")).Stdout);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (await CpuOf(first) == frozenAt && DateTime.UtcNow < deadline)
                await Task.Delay(200);
            Assert.NotEqual(frozenAt, await CpuOf(first));
            Assert.Equal("alive", await Run(first, "echo alive"));

            // Update the second container's memory alone: a 64 MiB buffer fits before, not after its limit is 32 MiB,
            // and still fits in the first.
            const string Hog = "dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null && echo fits";
            Assert.Equal("fits", await Run(second, Hog));
            await cri.Runtime.UpdateContainerResourcesAsync(new UpdateContainerResourcesRequest
                { ContainerId = second, Linux = new LinuxContainerResources { MemoryLimitInBytes = 32L << 20 } });
            var hog = await cri.Runtime.ExecSyncAsync(new ExecSyncRequest { ContainerId = second, Cmd = { "/bin/sh", "-c", Hog }, Timeout = 120 });
            Assert.True(hog.ExitCode != 0 && hog.Stdout.ToStringUtf8() == "", $"the 64 MiB buffer still fit under 32 MiB: exit {hog.ExitCode}");
            Assert.Equal("fits", await Run(first, Hog));

            // ps lists what an exec left running in the second container too; kill --all ends all of it, and only it.
            await Run(second, "sleep 4721 </dev/null >/dev/null 2>&1 & exit 0");
            // The exec ended with its shell, whose background child may not have exec'd sleep yet (a loaded host widens
            // that moment): asked again, bounded, until it shows beside the container's own.
            List<int> sleeping = [];
            for (var look = 0; look < 120 && sleeping.Count < 2; look++)
            {
                if (look > 0)
                    await Task.Delay(500);
                sleeping = (await Run(second, "pidof sleep")).Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).Order().ToList();
            }
            Assert.Equal(2, sleeping.Count);
            var ps = await Ctr("task", "ps", second);
            Assert.True(ps.ExitCode == 0, ps.ToString());
            var listed = System.Text.RegularExpressions.Regex.Matches(ps.Stdout, @"^(\d+)\b", System.Text.RegularExpressions.RegexOptions.Multiline)
                .Select(m => int.Parse(m.Groups[1].Value)).Order().ToList();
            Assert.Equal(sleeping, listed);
            var kill = await Ctr("task", "kill", "--all", "-s", "SIGKILL", second);
            Assert.True(kill.ExitCode == 0, kill.ToString());
            // Its task ends (CRI deletes an exited task at once: it is STOPPED or gone).
            deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (System.Text.RegularExpressions.Regex.IsMatch((await Ctr("task", "ls")).Stdout, $@"{second}\s+\d+\s+RUNNING") && DateTime.UtcNow < deadline)
                await Task.Delay(200);
            Assert.DoesNotMatch($@"{second}\s+\d+\s+RUNNING", (await Ctr("task", "ls")).Stdout);
            Assert.Equal("alive", await Run(first, "echo alive"));
        }
        finally
        {
            await RemovePodAsync(cri, podId);
        }
    }
}
