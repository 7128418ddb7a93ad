using System.Text;
using Sandbox.Isolation;
using Sandbox.Isolation.Container;

namespace Sandbox.E2E;

/// <summary>Container tier: a sandbox's cgroup namespace is rooted at the sandbox's own cgroup on every hierarchy, so
/// /proc/PID/cgroup inside shows "/" (a one-shot's command), "/agent" (the agent) or the exec's own sub-cgroup "/e…"
/// — never "/..", the host's layout or the sandbox's id — while the host still sees and limits the sandbox where it
/// put it. bwrap clones the sandbox (and its cgroup namespace) only once the host has placed it in the sandbox's
/// cgroup: it waits for the end of its options (BwrapOptionsGate).</summary>
public sealed class CgroupNamespaceTests
{
    private static readonly TimeSpan s_guard = TimeSpan.FromMinutes(2);

    /// <summary>Every line of a /proc/PID/cgroup text: the path after the second ':'. One per hierarchy (v1/hybrid:
    /// several; v2: one "0::" line).</summary>
    internal static IReadOnlyList<(string Controllers, string Path)> Lines(string text) => text
        .Split('\n', StringSplitOptions.RemoveEmptyEntries)
        .Select(l => l.Split(':', 3))
        .Select(p => (p[1], p[2]))
        .ToList();

    /// <summary>Each line is the namespace's root or one of <paramref name="allowed"/> below it; none reaches above
    /// it ("/.."), none names the sandbox.</summary>
    internal static void AssertRooted(string text, string sandboxId, params string[] allowed)
    {
        var lines = Lines(text);
        Assert.NotEmpty(lines);
        foreach (var (controllers, path) in lines)
        {
            Assert.True(path == "/" || allowed.Any(a => path == "/" + a),
                $"'{controllers}' shows '{path}' (allowed: / {string.Join(' ', allowed.Select(a => "/" + a))}); all:\n{text}");
        }
        Assert.DoesNotContain("..", text, StringComparison.Ordinal);
        Assert.DoesNotContain(sandboxId, text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_one_shot_sees_only_the_root_of_its_cgroup_namespace()
    {
        using var guard = new CancellationTokenSource(s_guard);
        var spec = new SandboxSpec();
        var result = await Harness.RunAsync(ExecutionMode.OneShot, Harness.Sh("cat /proc/self/cgroup; echo --; cat /proc/1/cgroup"), spec,
            cancellationToken: guard.Token);
        Assert.True(result.Status.ExitCode == 0, result.Stderr);
        var parts = result.Stdout.Split("--\n");
        AssertRooted(parts[0], spec.Id.Value); // the command
        AssertRooted(parts[1], spec.Id.Value); // bwrap's reaper, PID 1
    }

    [Fact]
    public async Task A_created_sandbox_shows_its_agent_and_each_exec_below_its_own_root_and_the_host_still_places_them()
    {
        using var guard = new CancellationTokenSource(s_guard);
        await using var sandbox = await Harness.Driver.CreateAsync(new SandboxSpec { Limits = ResourceLimits.Default with { MemoryMiB = 200 } }, guard.Token);
        var id = sandbox.Info.Id.Value;
        var first = await ExecIdAndCgroupsAsync(sandbox, guard.Token);
        var second = await ExecIdAndCgroupsAsync(sandbox, guard.Token);

        foreach (var (execCgroups, agentCgroups) in new[] { first, second })
        {
            var execLeaf = PathOf(execCgroups, "memory").TrimStart('/');
            Assert.Matches("^e[0-9a-f]+-[0-9]+$", execLeaf);
            // v1: the exec's own sub-cgroup on memory, pids and freezer, the agent's elsewhere (cpu accounting stays
            // with it); v2: its own, on the one line.
            AssertRooted(execCgroups, id, execLeaf, ContainerLauncher.AgentCgroupName);
            foreach (var controller in new[] { "memory", "pids" })
                Assert.Equal("/" + execLeaf, PathOf(execCgroups, controller));
            AssertRooted(agentCgroups, id, ContainerLauncher.AgentCgroupName);
            Assert.Equal("/" + ContainerLauncher.AgentCgroupName, PathOf(agentCgroups, "memory"));
        }
        Assert.NotEqual(PathOf(first.Exec, "memory"), PathOf(second.Exec, "memory"));

        // From the host nothing moved: the agent is in the sandbox's agent cgroup, below the sandbox's, whose limits
        // hold for it; the sandbox's own cgroup holds no process (v2's no-internal-process rule).
        var agentDir = Path.Combine(sandbox.Info.CgroupPath!, ContainerLauncher.AgentCgroupName);
        var agentPid = Assert.Single(CgroupTree.Procs(agentDir), pid => File.ReadAllText($"/proc/{pid}/comm").Trim() == "sandbox-agent");
        Assert.Contains($"/{id}/{ContainerLauncher.AgentCgroupName}", File.ReadAllText($"/proc/{agentPid}/cgroup"), StringComparison.Ordinal);
        Assert.DoesNotContain(File.ReadAllLines(Path.Combine(sandbox.Info.CgroupPath!, "cgroup.procs")), l => l.Length > 0);
        var limit = File.Exists(Path.Combine(sandbox.Info.CgroupPath!, "memory.max")) ? "memory.max" : "memory.limit_in_bytes";
        Assert.Equal((200L << 20).ToString(), File.ReadAllText(Path.Combine(sandbox.Info.CgroupPath!, limit)).Trim());
    }

    /// <summary>The path on <paramref name="controller"/>'s v1 hierarchy, or on the unified one where there is none.</summary>
    private static string PathOf(string cgroups, string controller)
    {
        var lines = Lines(cgroups);
        return (lines.Where(l => l.Controllers.Split(',').Contains(controller)).Select(l => l.Path).SingleOrDefault()
            ?? lines.Single(l => l.Controllers == "").Path);
    }

    /// <summary>One exec's own /proc/self/cgroup and the agent's (/proc/1/cgroup), read by that exec.</summary>
    private static async Task<(string Exec, string Agent)> ExecIdAndCgroupsAsync(ISandbox sandbox, CancellationToken cancellationToken)
    {
        var stdout = new MemoryStream();
        var stderr = new MemoryStream();
        var p = await sandbox.ExecAsync(Harness.Sh("cat /proc/self/cgroup; echo --; cat /proc/1/cgroup"), new ProcessIO { Stdout = stdout, Stderr = stderr },
            cancellationToken);
        var status = await p.WaitAsync(cancellationToken);
        var text = Encoding.UTF8.GetString(stdout.ToArray());
        Assert.True(status.ExitCode == 0, $"exit {status.ExitCode}: {text}{Encoding.UTF8.GetString(stderr.ToArray())}");
        var parts = text.Split("--\n");
        return (parts[0], parts[1]);
    }
}
