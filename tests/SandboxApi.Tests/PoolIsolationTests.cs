using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Sandbox.Api;
using Sandbox.Api.V1;
using Sandbox.Core;
using Sandbox.SandboxApi.Configuration;
using static Sandbox.SandboxApi.Tests.Streams;

namespace Sandbox.SandboxApi.Tests;

/// <summary>Warm container pools in a real sandboxd (real bwrap, agent, cgroups): a claim gets a fresh sandbox that
/// shows nothing of anyone before it, its limits are what the host's cgroups say, a request of another shape is
/// served afresh, and an orderly stop or a crash leaves nothing of the pool (tests/Core.Tests/PoolTests has the pool's
/// rules over fake drivers; PoolMicroVmTests the microVM tier).</summary>
[Collection("sandboxd")]
public sealed class PoolIsolationTests
{
    private const string Pool = """
        pools:
          max_refill_per_s: 100
          shapes:
            - {name: c, tier: container, size: 2, tenant: acme}
        """;

    /// <summary>What one sandbox can see of itself: files in /tmp, the work dir and the root, processes (command lines),
    /// environment, hostname. The quotes keep the words looked for out of this script's own command line.</summary>
    private const string Look = "ls -A /tmp /work; test -e /le''ft && echo ROOT-\"\"LEFT; for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done; env; hostname";

    private static Task FullAsync(SandboxdServer server, int size = 2) =>
        server.App.Services.GetRequiredService<SandboxCore>().Pools
            .WaitUntilAsync(p => p.Sizes.GetValueOrDefault("c") == size && p.Retiring == 0, CancellationToken.None).WaitAsync(TimeSpan.FromMinutes(2));

    private static async Task<string> MetricsAsync(SandboxdServer server) => (await server.Client.GetMetricsAsync(new GetMetricsRequest())).Text;

    [Fact]
    public async Task Each_pooled_run_gets_a_fresh_sandbox_that_sees_nothing_of_the_run_before()
    {
        var root = SandboxdServer.NewRoot();
        await using var server = await SandboxdServer.StartAsync(SandboxdServer.Yaml(root, pools: Pool), root);
        await FullAsync(server);
        var pooled = server.CgroupLeftovers().Select(Path.GetFileName).ToHashSet();

        var first = await RunAsync(server.Client, Process("/bin/sh", "-c",
            "echo secret > /left 2>/dev/null; echo secret > /tmp/left; echo secret > /work/left; export LEFT_BEHIND=1; setsid sleep 601 >/dev/null 2>&1 < /dev/null & echo started"),
            sandbox: WithEnv(("FIRST_ONLY", "1")));
        Assert.Equal("started\n", first.Stdout);
        Assert.Contains(first.Started!.SandboxId, pooled);
        await FullAsync(server);

        var second = await RunAsync(server.Client, Process("/bin/sh", "-c", Look));
        Assert.Equal(0, second.Exit!.ExitCode);
        Assert.Contains(second.Started!.SandboxId, pooled);
        Assert.NotEqual(first.Started.SandboxId, second.Started.SandboxId);
        Assert.StartsWith("/tmp:\n\n/work:\n", second.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("left", second.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("ROOT-LEFT", second.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("sleep 601", second.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("FIRST_ONLY", second.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("LEFT_BEHIND", second.Stdout, StringComparison.Ordinal);
        Assert.EndsWith("\nsandbox\n", second.Stdout, StringComparison.Ordinal);
        Assert.Contains("sandboxd_pool_claims_total{pool=\"c\",outcome=\"hit\"} 2", await MetricsAsync(server));

        // The first run's sandbox, background process included, is gone from the host once it is retired.
        await FullAsync(server);
        Assert.DoesNotContain(first.Started.SandboxId, server.CgroupLeftovers().Select(Path.GetFileName));
        Assert.DoesNotContain(HostCommandLines(), c => c.Contains("sleep 601", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Two_live_claimants_are_apart_and_get_their_own_limits_as_the_host_cgroups_show()
    {
        var root = SandboxdServer.NewRoot();
        await using var server = await SandboxdServer.StartAsync(SandboxdServer.Yaml(root, pools: Pool), root);
        await FullAsync(server);
        var pooled = server.CgroupLeftovers().Select(Path.GetFileName).ToHashSet();

        var a = await server.Client.CreateSandboxAsync(WithLimits(memoryMiB: 300, pids: 0));
        var b = await server.Client.CreateSandboxAsync(WithLimits(memoryMiB: 200, pids: 0));
        Assert.Contains(a.Id, pooled);
        Assert.Contains(b.Id, pooled);
        Assert.Equal(300 * 1024L * 1024, MemoryLimitBytes(server, a.Id));
        Assert.Equal(200 * 1024L * 1024, MemoryLimitBytes(server, b.Id));
        Assert.Equal(300, a.Limits.MemoryMib);

        var leave = await ExecAsync(server.Client, a.Id, Process("/bin/sh", "-c",
            "echo secret > /tmp/left; echo secret > /work/left; setsid sleep 602 >/dev/null 2>&1 < /dev/null & echo ok"));
        Assert.Equal("ok\n", leave.Stdout);
        var look = await ExecAsync(server.Client, b.Id, Process("/bin/sh", "-c", Look));
        Assert.StartsWith("/tmp:\n\n/work:\n", look.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("sleep 602", look.Stdout, StringComparison.Ordinal);
        Assert.EndsWith("\nsandbox\n", look.Stdout, StringComparison.Ordinal);
        // a's own view still has its file: the two are not one sandbox seen twice.
        Assert.Equal("secret\n", (await ExecAsync(server.Client, a.Id, Process("cat", "/tmp/left"))).Stdout);

        await server.Client.DeleteSandboxAsync(new DeleteSandboxRequest { Id = a.Id });
        await server.Client.DeleteSandboxAsync(new DeleteSandboxRequest { Id = b.Id });
    }

    /// <summary>A pooled sandbox was launched long before its claim, by sandboxd (whose own cgroup is elsewhere): its
    /// cgroup namespace is still rooted at its own cgroup, so a run or an exec in it reads "/", "/agent" (the agent,
    /// /proc/1) or its own exec sub-cgroup "/e…" on every line, never "/.." or the sandbox's id.</summary>
    [Fact]
    public async Task A_pooled_sandbox_shows_only_its_own_cgroup_namespace_in_runs_and_execs()
    {
        var root = SandboxdServer.NewRoot();
        await using var server = await SandboxdServer.StartAsync(SandboxdServer.Yaml(root, pools: Pool), root);
        await FullAsync(server);
        var pooled = server.CgroupLeftovers().Select(Path.GetFileName).ToHashSet();
        const string Show = "cat /proc/self/cgroup; echo --; cat /proc/1/cgroup";

        var run = await RunAsync(server.Client, Process("/bin/sh", "-c", Show));
        Assert.Equal(0, run.Exit!.ExitCode);
        Assert.Contains(run.Started!.SandboxId, pooled);
        AssertOwnCgroupNamespace(run.Stdout, run.Started.SandboxId);

        var created = await server.Client.CreateSandboxAsync(Trusted());
        Assert.Contains(created.Id, pooled);
        var exec = await ExecAsync(server.Client, created.Id, Process("/bin/sh", "-c", Show));
        Assert.Equal(0, exec.Exit!.ExitCode);
        AssertOwnCgroupNamespace(exec.Stdout, created.Id);
        await server.Client.DeleteSandboxAsync(new DeleteSandboxRequest { Id = created.Id });
    }

    /// <summary>An exec's /proc/self/cgroup, "--", the agent's: the exec on its own sub-cgroup for memory (v1) or the
    /// one line (v2), the agent on "/agent"; every line "/" or one of those.</summary>
    private static void AssertOwnCgroupNamespace(string output, string sandboxId)
    {
        var parts = output.Split("--\n");
        Assert.Equal(2, parts.Length);
        foreach (var line in parts.SelectMany(p => p.Split('\n', StringSplitOptions.RemoveEmptyEntries)))
            Assert.Matches("^[0-9]+:[^:]*:/(agent|e[0-9a-f]+-[0-9]+)?$", line);
        Assert.Matches("(?m)^[0-9]+:(memory|):/e[0-9a-f]+-[0-9]+$", parts[0]);
        Assert.Matches("(?m)^[0-9]+:(memory|):/agent$", parts[1]);
        Assert.DoesNotContain(sandboxId, output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_request_of_another_shape_misses_and_is_served_by_a_fresh_launch()
    {
        var root = SandboxdServer.NewRoot();
        await using var server = await SandboxdServer.StartAsync(SandboxdServer.Yaml(root, pools: Pool), root);
        await FullAsync(server);
        var pooled = server.CgroupLeftovers().Select(Path.GetFileName).ToHashSet();
        var strict = Trusted();
        strict.SyscallProfile = "strict";
        var run = await RunAsync(server.Client, Process("echo", "fresh"), sandbox: strict);
        Assert.Equal("fresh\n", run.Stdout);
        Assert.DoesNotContain(run.Started!.SandboxId, pooled);
        Assert.Contains("sandboxd_pool_claims_total{pool=\"none\",outcome=\"miss\"} 1", await MetricsAsync(server));
        Assert.Equal(pooled, server.CgroupLeftovers().Select(Path.GetFileName).ToHashSet());
    }

    [Fact]
    public async Task An_orderly_stop_destroys_the_pool_and_leaves_no_process_cgroup_socket_or_mount()
    {
        var root = SandboxdServer.NewRoot();
        var server = await SandboxdServer.StartAsync(SandboxdServer.Yaml(root, pools: Pool), root);
        await FullAsync(server);
        var cgroups = server.CgroupLeftovers();
        var ids = cgroups.Select(Path.GetFileName).ToHashSet();
        Assert.Equal(2, ids.Count);
        // Each with its start time: pids are reused on a busy host, and another process may have one of these by the
        // time the pool is gone.
        var pids = cgroups.SelectMany(ProcsBelow).Distinct().Select(Sandbox.Tests.Common.HostProcess.Identify)
            .OfType<Sandbox.Tests.Common.HostProcess.Identity>().ToList();
        Assert.NotEmpty(pids);
        var parent = server.Config.Container.CgroupParent;
        await server.DisposeAsync();

        Assert.All(pids, process => Assert.False(Sandbox.Tests.Common.HostProcess.IsLive(process),
            $"pid {process.Pid} of a pooled sandbox still runs"));
        Assert.DoesNotContain(Directory.EnumerateDirectories("/sys/fs/cgroup").Select(h => Path.Combine(h, parent)), Directory.Exists);
        Assert.False(Directory.Exists(root));
        var mounts = File.ReadAllText("/proc/self/mountinfo");
        Assert.All(ids, id => Assert.DoesNotContain(id!, mounts, StringComparison.Ordinal));
        Assert.All(ids, id => Assert.Empty(Directory.EnumerateFileSystemEntries(Path.GetTempPath(), "*" + id + "*")));
    }

    [Fact]
    public async Task After_a_crash_the_next_sandboxd_reclaims_the_pooled_sandboxes_and_never_lists_them()
    {
        var root = SandboxdServer.NewRoot();
        var configFile = Path.Combine(root, "sandboxd.yaml");
        await File.WriteAllTextAsync(configFile, SandboxdServer.Yaml(root, pools: Pool));
        var config = ConfigLoader.LoadFile(configFile);
        var daemon = await Daemon.StartAsync(configFile, config.Listen.UnixPath);
        try
        {
            using var channel = SandboxdChannel.ForUnixSocket(config.Listen.UnixPath);
            var client = new Sandboxes.SandboxesClient(channel);
            // From outside the daemon the pool is seen through its metrics; the wait ends when both are made.
            while (!(await client.GetMetricsAsync(new GetMetricsRequest())).Text.Contains("sandboxd_pool_size{pool=\"c\"} 2", StringComparison.Ordinal))
                await Task.Delay(100);
            var pooled = Leftovers(config).Select(Path.GetFileName).ToHashSet();
            Assert.Equal(2, pooled.Count);
            daemon.Kill9();

            // The next sandboxd runs no pool of its own, so whatever cgroup remains would be the old pool's.
            await File.WriteAllTextAsync(configFile, SandboxdServer.Yaml(root));
            daemon = await Daemon.StartAsync(configFile, config.Listen.UnixPath);
            using var channel2 = SandboxdChannel.ForUnixSocket(config.Listen.UnixPath);
            client = new Sandboxes.SandboxesClient(channel2);
            Assert.Empty((await client.ListSandboxesAsync(new ListSandboxesRequest())).Sandboxes);
            Assert.Empty(Leftovers(config));
            Assert.Contains("sandboxd_restart_reclaimed_total 2", (await client.GetMetricsAsync(new GetMetricsRequest())).Text, StringComparison.Ordinal);
            Assert.Empty(Directory.GetFiles(Path.Combine(root, "state", "channels")));
        }
        finally
        {
            daemon.Kill9();
            await (await Daemon.StartAsync(configFile, config.Listen.UnixPath)).TerminateAsync();
            SandboxdServer.RemoveCgroupParents(config.Container.CgroupParent);
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    private static CreateSandboxRequest WithEnv(params (string Key, string Value)[] env)
    {
        var r = Trusted();
        foreach (var (k, v) in env)
            r.Env[k] = v;
        return r;
    }

    private static CreateSandboxRequest WithLimits(long memoryMiB, int pids)
    {
        var r = Trusted();
        r.Resources = new Resources { MemoryMib = memoryMiB };
        if (pids > 0)
            r.Resources.Pids = pids;
        return r;
    }

    private static long MemoryLimitBytes(SandboxdServer server, string id)
    {
        var parent = server.Config.Container.CgroupParent;
        var v1 = Path.Combine("/sys/fs/cgroup/memory", parent, id, "memory.limit_in_bytes");
        var v2 = Path.Combine("/sys/fs/cgroup", parent, id, "memory.max");
        return long.Parse(File.ReadAllText(File.Exists(v1) ? v1 : v2).Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static IEnumerable<int> ProcsBelow(string cgroup) =>
        Directory.EnumerateFiles(cgroup, "cgroup.procs", SearchOption.AllDirectories)
            .SelectMany(File.ReadAllLines).Where(l => l.Length > 0).Select(int.Parse);

    private static IReadOnlyList<string> Leftovers(SandboxdConfig config) =>
        Directory.EnumerateDirectories("/sys/fs/cgroup")
            .Select(h => Path.Combine(h, config.Container.CgroupParent))
            .Where(Directory.Exists)
            .SelectMany(Directory.EnumerateDirectories)
            .ToList();

    private static List<string> HostCommandLines()
    {
        var lines = new List<string>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                lines.Add(File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' '));
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        return lines;
    }
}
