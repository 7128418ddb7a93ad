using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Sandbox.Api.V1;
using Sandbox.Core;
using static Sandbox.SandboxApi.Tests.Streams;

namespace Sandbox.SandboxApi.Tests;

/// <summary>Warm pools over time and on the microVM tier, in a real sandboxd: pooled containers past the pool TTL are
/// destroyed and replaced (on a fake clock: nothing sleeps), and two claimants of a microVM pool — clones restored
/// from one template — share nothing, their RNG state included.</summary>
[Collection("sandboxd")]
public sealed class PoolLifetimeTests
{
    private static SandboxPools Pools(SandboxdServer server) => server.App.Services.GetRequiredService<SandboxCore>().Pools;

    [Fact]
    public async Task Pooled_sandboxes_past_the_pool_ttl_are_destroyed_and_replaced()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var root = SandboxdServer.NewRoot();
        const string pools = """
            pools:
              max_refill_per_s: 100
              ttl_s: 600
              shapes:
                - {name: c, tier: container, size: 2, tenant: acme}
            """;
        await using var server = await SandboxdServer.StartAsync(SandboxdServer.Yaml(root, pools: pools), root,
            s => s.AddSingleton<TimeProvider>(clock));
        var pool = Pools(server);
        await pool.WaitUntilAsync(p => p.Sizes["c"] == 2, CancellationToken.None).WaitAsync(TimeSpan.FromMinutes(2));
        var old = server.CgroupLeftovers().Select(Path.GetFileName).ToHashSet();
        Assert.Equal(2, old.Count);

        clock.Advance(TimeSpan.FromSeconds(599));
        Assert.Equal(old, server.CgroupLeftovers().Select(Path.GetFileName).ToHashSet());
        clock.Advance(TimeSpan.FromSeconds(1));
        await pool.WaitUntilAsync(p => p.Sizes["c"] == 2 && p.Retiring == 0 && !server.CgroupLeftovers().Select(Path.GetFileName).Intersect(old).Any(),
            CancellationToken.None).WaitAsync(TimeSpan.FromMinutes(2));
        Assert.Equal(2, server.CgroupLeftovers().Select(Path.GetFileName).Distinct().Count(id => !old.Contains(id)));
        Assert.Contains("sandboxd_pool_replaced_total{pool=\"c\"} 2", (await server.Client.GetMetricsAsync(new GetMetricsRequest())).Text, StringComparison.Ordinal);
    }

    [MicroVmPoolFact]
    public async Task Two_claimants_of_a_microvm_pool_share_nothing_not_even_rng_state()
    {
        var root = SandboxdServer.NewRoot();
        const string pools = """
            pools:
              max_refill_per_s: 100
              shapes:
                - {name: vm, tier: microvm, size: 2, tenant: acme}
            """;
        await using var server = await SandboxdServer.StartAsync(SandboxdServer.Yaml(root, pools: pools), root);
        var core = server.App.Services.GetRequiredService<SandboxCore>();
        var probed = await core.Drivers.ProbedAsync(CancellationToken.None);
        Assert.True(probed.IsAvailable(Isolation.SandboxTier.MicroVm), $"QEMU and a guest kernel are here, yet: {probed.Unavailable.GetValueOrDefault(Isolation.SandboxTier.MicroVm)}");
        // The first fill may build the template (a TCG boot, tens of seconds on a loaded host); later runs restore it.
        await Pools(server).WaitUntilAsync(p => p.Sizes.GetValueOrDefault("vm") == 2, CancellationToken.None).WaitAsync(TimeSpan.FromMinutes(4));
        var pooled = Directory.EnumerateDirectories("/sys/fs/cgroup")
            .Select(h => Path.Combine(h, server.Config.Container.CgroupParent + "-vm"))
            .Where(Directory.Exists).SelectMany(Directory.EnumerateDirectories).Select(Path.GetFileName).ToHashSet();
        Assert.Equal(2, pooled.Count);

        var request = Trusted();
        request.Tier = Tier.Microvm;
        var a = await server.Client.CreateSandboxAsync(request);
        var b = await server.Client.CreateSandboxAsync(request);
        try
        {
            Assert.Contains(a.Id, pooled);
            Assert.Contains(b.Id, pooled);
            // Restored clones of one template (what each VM's state record says; a cold boot records none).
            var templates = new[] { a.Id, b.Id }.Select(id => TemplateOf(root, id)).ToList();
            Assert.All(templates, t => Assert.False(string.IsNullOrEmpty(t), "a pooled microVM was cold-booted, not restored from a template"));
            Assert.Equal(templates[0], templates[1]);

            const string rng = "cat /proc/sys/kernel/random/boot_id; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'; echo";
            var leave = await ExecAsync(server.Client, a.Id, Process("/bin/sh", "-c",
                "echo secret > /tmp/left; echo secret > /work/left; setsid sleep 603 >/dev/null 2>&1 < /dev/null & " + rng));
            var look = await ExecAsync(server.Client, b.Id, Process("/bin/sh", "-c",
                "ls -A /tmp /work; for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done; env; hostname; " + rng));
            Assert.Equal(0, look.Exit!.ExitCode);
            Assert.StartsWith("/tmp:\n\n/work:\n", look.Stdout, StringComparison.Ordinal);
            Assert.DoesNotContain("sleep 603", look.Stdout, StringComparison.Ordinal);
            Assert.Contains("\nsandbox\n", look.Stdout, StringComparison.Ordinal);
            var (bootA, bytesA) = LastTwoLines(leave.Stdout);
            var (bootB, bytesB) = LastTwoLines(look.Stdout);
            Assert.Matches("^[0-9a-f-]{36}$", bootA);
            Assert.Equal(64, bytesA.Length);
            Assert.NotEqual(bootA, bootB);
            Assert.NotEqual(bytesA, bytesB);
        }
        finally
        {
            await server.Client.DeleteSandboxAsync(new DeleteSandboxRequest { Id = a.Id });
            await server.Client.DeleteSandboxAsync(new DeleteSandboxRequest { Id = b.Id });
        }
    }

    private static string? TemplateOf(string root, string id)
    {
        var record = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(root, "state", "sandboxes", id + ".json")))!;
        var payload = System.Text.Json.Nodes.JsonNode.Parse(record["attachment"]!["payload"]!.GetValue<string>())!;
        return payload["template"]?.GetValue<string>();
    }

    private static (string, string) LastTwoLines(string output)
    {
        var lines = output.TrimEnd('\n').Split('\n');
        return (lines[^2], lines[^1]);
    }
}

/// <summary>Skips, with the reason, where the microVM tier cannot run at all (no QEMU or no guest kernel: scripts/bootstrap.sh
/// and scripts/fetch-kernel.sh provide them).</summary>
public sealed class MicroVmPoolFactAttribute : FactAttribute
{
    public MicroVmPoolFactAttribute()
    {
        if (!File.Exists("/usr/bin/qemu-system-x86_64"))
            Skip = "QEMU (qemu-system-x86_64) is not installed";
        else if (!Directory.Exists("/var/cache/sandbox/kernel/current"))
            Skip = "no guest kernel in /var/cache/sandbox/kernel (scripts/fetch-kernel.sh)";
    }
}
