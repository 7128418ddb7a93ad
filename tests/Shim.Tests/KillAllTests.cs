using System.Text.RegularExpressions;

namespace Sandbox.Shim.Tests;

/// <summary>`ctr task ps` (Pids) and `ctr task kill --all` (Kill with all=true) cover the container's whole workload
/// — what an exec forked and left running after it ended too — and never the sandbox's agent.</summary>
[Collection(ContainerdCollection.Name)]
public sealed class KillAllTests(ContainerdFixture fixture)
{
    private Task<CommandRunner.Result> Ctr(params string[] args) => fixture.CtrAsync(args);

    [ShimFact]
    public async Task PsAndKillAll_ReachWhatAnExecLeftBehind_NotTheAgent()
    {
        const string id = "killall-1";
        // Sleep durations unique to this test: they name its processes on the host.
        var leftBehind = new[] { "4711", "4712" };
        using var events = new EventRecorder(fixture);
        var run = await fixture.CtrAsync(new[] { "run", "-d", "--runtime", ContainerdFixture.Runtime }.Concat(CtrRunTests.ContainerTier)
            .Concat([ContainerdFixture.Image, id, "/bin/sleep", "4710"]));
        Assert.True(run.ExitCode == 0, run.ToString());
        try
        {
            // The exec ends at once; its two sleeps go on in the background (in the exec's cgroup).
            var exec = await Ctr("task", "exec", "--exec-id", "bg", id, "/bin/sh", "-c",
                $"sleep {leftBehind[0]} </dev/null >/dev/null 2>&1 & sleep {leftBehind[1]} </dev/null >/dev/null 2>&1 & exit 0");
            Assert.True(exec.ExitCode == 0, exec.ToString());

            // What the sandbox itself sees running sleep: the init and both left behind. The exec ended with its shell,
            // whose background children may not have exec'd sleep yet (a loaded host widens that moment): asked again,
            // bounded, until all three show.
            List<int> sleeping = [];
            for (var look = 0; look < 120 && sleeping.Count < 3; look++)
            {
                if (look > 0)
                    await Task.Delay(500);
                var inside = await Ctr("task", "exec", "--exec-id", $"look-{look}", id, "/bin/pidof", "sleep");
                Assert.True(inside.ExitCode == 0, inside.ToString());
                sleeping = inside.Stdout.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).Order().ToList();
            }
            Assert.Equal(3, sleeping.Count);

            var ps = await Ctr("task", "ps", id);
            Assert.True(ps.ExitCode == 0, ps.ToString());
            var listed = Regex.Matches(ps.Stdout, @"^(\d+)\b", RegexOptions.Multiline).Select(m => int.Parse(m.Groups[1].Value)).Order().ToList();
            // Every sleep, and nothing else (the agent is PID 1 inside; the pidof exec has ended).
            Assert.Equal(sleeping, listed);
            Assert.DoesNotContain(1, listed);
            Assert.Equal(3, HostPidsOf(["4710", .. leftBehind]).Count);

            // SIGTERM to all: the init ends with 143, and the sleeps the exec left are gone before the task is deleted
            // (under the shim's own Kill of the init's execs they were not reached: they are nobody's exec).
            Assert.Equal(0, (await Ctr("task", "kill", "--all", "-s", "SIGTERM", id)).ExitCode);
            await events.TaskTopicsUntilAsync(id, "/tasks/exit", 2, TimeSpan.FromSeconds(15));
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (HostPidsOf(leftBehind).Count > 0 && DateTime.UtcNow < deadline)
                await Task.Delay(100);
            Assert.Empty(HostPidsOf(leftBehind));
            Assert.Matches($@"{id}\s+\d+\s+STOPPED", (await Ctr("task", "ls")).Stdout);
            Assert.Contains("exit code 143", (await Ctr("task", "delete", id)).Stderr);
        }
        finally
        {
            await Ctr("task", "kill", "-s", "SIGKILL", id);
            await Ctr("task", "delete", "-f", id);
            await Ctr("container", "rm", id);
        }
        Assert.Empty(HostPidsOf(leftBehind));
    }

    /// <summary>A standalone microVM (no pod): Pids and Kill(all) reach every process of the guest's workload (its
    /// cgroup in the guest) — what an exec left running too — and never the agent, which keeps serving.</summary>
    [ShimFact]
    public async Task MicroVm_PsAndKillAll_ReachTheGuestsWholeWorkload_NotTheAgent()
    {
        const string id = "killall-vm";
        var vmTimeout = TimeSpan.FromSeconds(120);
        Task<CommandRunner.Result> VmCtr(params string[] args) => fixture.CtrAsync(args, timeout: vmTimeout);
        var execs = 0;
        // The init ignores SIGUSR1 (an ignored signal stays ignored across exec); what an exec starts does not.
        var run = await VmCtr("run", "-d", "--runtime", ContainerdFixture.Runtime, "--label", "io.sandbox.tier=microvm",
            ContainerdFixture.Image, id, "/bin/sh", "-c", "trap '' USR1; exec /bin/sleep 4740");
        Assert.True(run.ExitCode == 0, $"{run}\n{fixture.ReadLog()}");
        try
        {
            Assert.StartsWith("microvm ", await File.ReadAllTextAsync($"/run/sandbox-shim/{ContainerdFixture.Namespace}/{id}/tier"));
            var exec = await VmCtr("task", "exec", "--exec-id", "bg", id, "/bin/sh", "-c",
                "sleep 4741 </dev/null >/dev/null 2>&1 & sleep 4742 </dev/null >/dev/null 2>&1 & exit 0");
            Assert.True(exec.ExitCode == 0, exec.ToString());

            async Task<List<int>> SleepingInside()
            {
                var inside = await VmCtr("task", "exec", "--exec-id", $"look-{++execs}", id, "/bin/pidof", "sleep");
                Assert.True(inside.ExitCode == 0, inside.ToString());
                return inside.Stdout.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).Order().ToList();
            }
            async Task<List<int>> Ps()
            {
                var ps = await VmCtr("task", "ps", id);
                Assert.True(ps.ExitCode == 0, ps.ToString());
                return Regex.Matches(ps.Stdout, @"^(\d+)\b", RegexOptions.Multiline).Select(m => int.Parse(m.Groups[1].Value)).Order().ToList();
            }

            // The exec ended with its shell, whose background children may not have exec'd sleep yet: asked again,
            // bounded, until the init's sleep and both of theirs show.
            var sleeping = await SleepingInside();
            for (var showBy = DateTime.UtcNow + TimeSpan.FromSeconds(120); sleeping.Count < 3 && DateTime.UtcNow < showBy; )
            {
                await Task.Delay(500);
                sleeping = await SleepingInside();
            }
            Assert.Equal(3, sleeping.Count);
            // Every sleep (the two the shim never started included) and nothing else: not the agent (PID 1).
            var listed = await Ps();
            Assert.Equal(sleeping, listed);
            Assert.DoesNotContain(1, listed);

            // SIGUSR1 to all: the exec's two sleeps end, the init (ignoring it) and the agent go on.
            Assert.Equal(0, (await VmCtr("task", "kill", "--all", "-s", "SIGUSR1", id)).ExitCode);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            List<int> left;
            while ((left = await SleepingInside()).Count > 1 && DateTime.UtcNow < deadline)
                await Task.Delay(200);
            Assert.Single(left);
            Assert.Equal(left, await Ps());
            Assert.Matches($@"{id}\s+\d+\s+RUNNING", (await VmCtr("task", "ls")).Stdout);

            // SIGKILL to all: the init too; the task ends of it.
            Assert.Equal(0, (await VmCtr("task", "kill", "--all", "-s", "SIGKILL", id)).ExitCode);
            deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (!Regex.IsMatch((await VmCtr("task", "ls")).Stdout, $@"{id}\s+\d+\s+STOPPED") && DateTime.UtcNow < deadline)
                await Task.Delay(200);
            Assert.Contains("exit code 137", (await VmCtr("task", "delete", id)).Stderr);
        }
        finally
        {
            await VmCtr("task", "kill", "-s", "SIGKILL", id);
            await VmCtr("task", "delete", "-f", id);
            await VmCtr("container", "rm", id);
        }
    }

    /// <summary>Host pids of processes whose command line is `sleep D` for one of <paramref name="durations"/>.</summary>
    private static List<int> HostPidsOf(IReadOnlyList<string> durations)
    {
        var wanted = durations.Select(d => "sleep\0" + d + "\0").ToHashSet();
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
                continue;
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline"));
                if (wanted.Any(w => cmdline.EndsWith(w, StringComparison.Ordinal) && (cmdline.Length == w.Length || cmdline.EndsWith("/" + w, StringComparison.Ordinal))))
                    found.Add(pid);
            }
            catch (IOException)
            {
            }
        }
        return found;
    }
}
