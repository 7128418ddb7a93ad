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

            // What the sandbox itself sees running sleep: the init and both left behind.
            var inside = await Ctr("task", "exec", "--exec-id", "look", id, "/bin/pidof", "sleep");
            Assert.True(inside.ExitCode == 0, inside.ToString());
            var sleeping = inside.Stdout.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).Order().ToList();
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
