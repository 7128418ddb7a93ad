using System.Net;
using System.Net.Sockets;

namespace Sandbox.Shim.Tests;

/// <summary>The escape suite's checks (Escape/escape-checks.sh: those of tests/E2E/EscapeTests.cs that busybox's shell
/// can express) run inside a container that containerd started through the shim, on both tiers; after each
/// scenario no shim, mount, cgroup or socket of it is left.</summary>
[Collection(ContainerdCollection.Name)]
public sealed class EscapeInShimTests(ContainerdFixture fixture)
{
    private const int CheckCount = 19;

    [ShimFact]
    public Task ContainerTier_ImageWithTheChecksBoundIn() =>
        RunChecksAsync("escape-ct", tierLabels: CtrRunTests.ContainerTier, useBind: true);

    [ShimFact]
    public Task MicroVmTier_RootfsDir() =>
        RunChecksAsync("escape-vm", tierLabels: ["--label", "io.sandbox.tier=microvm"], useBind: false);

    private async Task RunChecksAsync(string id, string[] tierLabels, bool useBind)
    {
        var dir = Path.Combine(fixture.Dir, "escape-" + id);
        Directory.CreateDirectory(dir);
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
        var script = Path.Combine(dir, "escape-checks.sh");
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Escape", "escape-checks.sh"), script, overwrite: true);
        File.SetUnixFileMode(script, (UnixFileMode)0b111_101_101);
        var secret = "secret-" + Guid.NewGuid().ToString("N");
        var secretPath = Path.Combine(fixture.Dir, "host-secret");
        await File.WriteAllTextAsync(secretPath, secret);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var checkArgs = new[] { secretPath, secret, Environment.ProcessId.ToString(), port.ToString() };

        var before = Leftovers.Snapshot();
        var args = new List<string> { "run", "--rm", "--runtime", ContainerdFixture.Runtime };
        args.AddRange(tierLabels);
        if (useBind)
        {
            args.AddRange(["--mount", $"type=bind,src={dir},dst=/escape,options=rbind:ro", ContainerdFixture.Image, id, "/bin/sh", "/escape/escape-checks.sh"]);
        }
        else
        {
            // Binds are container-tier only: the script goes in as the shell's command.
            args.AddRange(["--rootfs", fixture.Rootfs, id, "/bin/sh", "-c", await File.ReadAllTextAsync(script), "escape-checks"]);
        }
        args.AddRange(checkArgs);
        var result = await fixture.CtrAsync(args, timeout: TimeSpan.FromSeconds(240));
        Assert.True(result.ExitCode == 0, $"{result}\n{fixture.ReadLog()}");
        var lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.DoesNotContain(lines, l => !l.StartsWith("PASS ", StringComparison.Ordinal));
        Assert.Equal(CheckCount, lines.Length);
        Assert.False(listener.Pending(), "a connection reached the host's loopback");

        Assert.Empty(ProcessExit.StillAliveAfter(fixture.LiveShims(), TimeSpan.FromSeconds(60)));
        var containers = await fixture.CtrAsync(["container", "ls", "-q"]);
        Assert.DoesNotContain(id, containers.Stdout.Split('\n'));
        Assert.False(Directory.Exists($"/run/sandbox-shim/{ContainerdFixture.Namespace}/{id}"), $"state of {id} left behind");
        var socket = Sandbox.KataShim.Cli.ShimSocketAddress.For(fixture.Socket, ContainerdFixture.Namespace, id);
        Assert.False(File.Exists(socket), $"the shim's socket {socket} is left");
        var left = Leftovers.Snapshot().Except(before).ToList();
        Assert.True(left.Count == 0, "left behind: " + string.Join(", ", left));
    }
}

/// <summary>What a scenario could leave on the host: the shim's sandbox cgroups (both tiers' parents, every
/// hierarchy) and mounts under the shim's state (the shim's socket is checked by name).</summary>
internal static class Leftovers
{
    public static HashSet<string> Snapshot()
    {
        var found = new HashSet<string>(StringComparer.Ordinal);
        foreach (var hierarchy in Directory.EnumerateDirectories("/sys/fs/cgroup").Append("/sys/fs/cgroup"))
        {
            foreach (var parent in new[] { "sandbox-shim", "sandbox-shim-vm" })
            {
                var path = Path.Combine(hierarchy, parent);
                if (Directory.Exists(path))
                    found.UnionWith(Directory.EnumerateDirectories(path, "*", SearchOption.AllDirectories).Select(d => "cgroup " + d));
            }
        }
        found.UnionWith(File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4])
            .Where(m => m.StartsWith("/run/sandbox-shim", StringComparison.Ordinal)).Select(m => "mount " + m));
        return found;
    }
}
