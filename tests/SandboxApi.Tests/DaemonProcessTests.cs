using System.Diagnostics;
using Grpc.Core;
using Sandbox.Api;
using Sandbox.Api.V1;
using Sandbox.SandboxApi.Configuration;

namespace Sandbox.SandboxApi.Tests;

/// <summary>sandboxd as a real process: peer credentials from other uids (setpriv), kill -9 and restart, and a
/// client that is not ours (Node.js, from the .proto files alone).</summary>
[Collection("sandboxd")]
public sealed class DaemonProcessTests(SharedServer shared)
{
    [Fact]
    public async Task KillNine_ThenRestart_ReattachesRunningSandboxes()
    {
        var root = SandboxdServer.NewRoot();
        var yaml = SandboxdServer.Yaml(root);
        var config = ConfigLoader.Parse(yaml);
        var configFile = Path.Combine(root, "sandboxd.yaml");
        await File.WriteAllTextAsync(configFile, yaml);
        var daemon = await Daemon.StartAsync(configFile, config.Listen.UnixPath);
        try
        {
            using var channel = SandboxdChannel.ForUnixSocket(config.Listen.UnixPath);
            var client = new Sandboxes.SandboxesClient(channel);
            var sb = await client.CreateSandboxAsync(new CreateSandboxRequest { Untrusted = false, CodeProvenance = "tenant", Labels = { ["app"] = "survivor" } }); // as root: tenant acme
            Assert.Equal("acme", sb.Tenant);
            Assert.Single(Directory.GetFiles(Path.Combine(root, "state", "sandboxes")));
            var socket = Assert.Single(Directory.GetFiles(Path.Combine(root, "state", "channels")));
            Assert.Equal(0, (await Streams.ExecAsync(client, sb.Id, Streams.Process("sh", "-c", "echo 1 > /work/x"))).Exit!.ExitCode);
            // The agent's listening socket is not inherited by what it runs (it could accept the host's connection).
            Assert.Equal("0\n1\n2\n3\n", (await Streams.ExecAsync(client, sb.Id, Streams.Process("ls", "/proc/self/fd"))).Stdout);
            // A background process that outlives its exec, and an exec still running when sandboxd is killed.
            Assert.Equal(0, (await Streams.ExecAsync(client, sb.Id, Streams.Process("sh", "-c", "sleep 1001 </dev/null >/dev/null 2>&1 &"))).Exit!.ExitCode);
            var running = client.Exec();
            await running.RequestStream.WriteAsync(new ExecRequest { Start = new ExecStart { SandboxId = sb.Id, Process = Streams.Process("sleep", "1002") } });
            Assert.True(await running.ResponseStream.MoveNext());
            Assert.Equal(ExecEvent.EventOneofCase.Started, running.ResponseStream.Current.EventCase);
            // Started means the exec's process exists; it is the agent's held binary until it has exec'd its
            // program, so the host may see `sleep 1002` a moment later (a loaded host widens that moment).
            var before = ProcessesOnceShowing(config, sb.Id, "sleep 1002");
            Assert.Contains("sleep 1001", before);
            Assert.Contains("sleep 1002", before);

            daemon.Kill9();
            running.Dispose();
            Assert.Contains("sleep 1001", Processes(config, sb.Id)); // nothing died with sandboxd
            daemon = await Daemon.StartAsync(configFile, config.Listen.UnixPath);
            using var channel2 = SandboxdChannel.ForUnixSocket(config.Listen.UnixPath);
            client = new Sandboxes.SandboxesClient(channel2);

            var again = await client.GetSandboxAsync(new GetSandboxRequest { Id = sb.Id });
            Assert.Equal(SandboxState.Running, again.State);
            Assert.Equal("survivor", again.Labels["app"]);
            Assert.Equal(sb.PolicyDecisionId, again.PolicyDecisionId);
            Assert.Single((await client.ListSandboxesAsync(new ListSandboxesRequest())).Sandboxes);
            var metrics = (await client.GetMetricsAsync(new GetMetricsRequest())).Text;
            Assert.Contains("sandboxd_restart_reattached_total 1", metrics);
            Assert.Contains("sandboxd_restart_reclaimed_total 0", metrics);

            var after = Processes(config, sb.Id);
            Assert.Contains("sleep 1001", after);
            Assert.Contains("sleep 1002", after);
            var echo = await Streams.ExecAsync(client, sb.Id, Streams.Process("sh", "-c", "cat /work/x; echo again"));
            Assert.Equal("1\nagain\n", echo.Stdout);
            Assert.Equal("1\n", await ReadAllAsync(client, sb.Id, "/work/x"));

            var bwrapPid = BwrapPid(config, sb.Id);
            Assert.True(bwrapPid > 0);
            var bwrap = Sandbox.Tests.Common.HostProcess.Identify(bwrapPid);
            Assert.NotNull(bwrap);
            await client.DeleteSandboxAsync(new DeleteSandboxRequest { Id = sb.Id });
            Assert.Empty(Leftovers(config));
            Assert.False(Sandbox.Tests.Common.HostProcess.IsLive(bwrap.Value),
                "bwrap is still running after Delete");
            Assert.False(File.Exists(socket));
            Assert.Empty(Directory.GetFiles(Path.Combine(root, "state", "sandboxes")));
            Assert.Empty(BwrapsUnder(root));
        }
        finally
        {
            daemon.Kill9();
            await CleanUpAsync(root, config);
        }
    }

    [Fact]
    public async Task KillNine_ThenRestart_CleansUpSandboxesThatDiedMeanwhile()
    {
        var root = SandboxdServer.NewRoot();
        var yaml = SandboxdServer.Yaml(root);
        var config = ConfigLoader.Parse(yaml);
        var configFile = Path.Combine(root, "sandboxd.yaml");
        await File.WriteAllTextAsync(configFile, yaml);
        var daemon = await Daemon.StartAsync(configFile, config.Listen.UnixPath);
        try
        {
            using var channel = SandboxdChannel.ForUnixSocket(config.Listen.UnixPath);
            var client = new Sandboxes.SandboxesClient(channel);
            var dead = await client.CreateSandboxAsync(Streams.Trusted());
            var alive = await client.CreateSandboxAsync(Streams.Trusted());
            var reused = await client.CreateSandboxAsync(Streams.Trusted());
            Assert.Equal(3, Directory.GetFiles(Path.Combine(root, "state", "sandboxes")).Length);

            daemon.Kill9();
            // A record whose bwrap start time does not match what the pid names now (what pid reuse looks like) is not
            // re-attached: the sandbox is cleaned up through its cgroup (which here also takes its real bwrap; a
            // recycled pid's process would not be in that cgroup and is left alone).
            var reusedRecord = Path.Combine(root, "state", "sandboxes", reused.Id + ".json");
            var json = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllTextAsync(reusedRecord))!;
            // The record's attachment payload is the container driver's own JSON, stored as an opaque string.
            var payload = System.Text.Json.Nodes.JsonNode.Parse(json["attachment"]!["payload"]!.GetValue<string>())!;
            payload["bwrap_start_time"] = payload["bwrap_start_time"]!.GetValue<ulong>() + 1;
            json["attachment"]!["payload"] = payload.ToJsonString();
            await File.WriteAllTextAsync(reusedRecord, json.ToJsonString());
            // With its start time: the check comes after a sandboxd restart, and pids are reused on a busy host.
            var reusedBwrap = Sandbox.Tests.Common.HostProcess.Identify(BwrapPid(config, reused.Id));
            Assert.NotNull(reusedBwrap);
            // While sandboxd is down, one sandbox's bwrap is killed; the other keeps running. The dead one cannot be
            // re-attached (its bwrap is gone), though its agent, PID 1 of its pid namespace, stays (an outliving
            // sandbox's bwrap does not take it along): the next sandboxd reclaims it through its cgroup (below: no
            // cgroup of it is left).
            var bwrap = BwrapPid(config, dead.Id);
            Assert.True(bwrap > 0);
            using (var dying = Process.GetProcessById(bwrap))
            {
                dying.Kill();
                Assert.True(ProcessGone(bwrap, TimeSpan.FromSeconds(60)), $"bwrap {bwrap} of {dead.Id} outlived SIGKILL");
            }

            daemon = await Daemon.StartAsync(configFile, config.Listen.UnixPath);
            using var channel2 = SandboxdChannel.ForUnixSocket(config.Listen.UnixPath);
            client = new Sandboxes.SandboxesClient(channel2);
            var e = await Assert.ThrowsAsync<RpcException>(() => client.GetSandboxAsync(new GetSandboxRequest { Id = dead.Id }).ResponseAsync);
            Assert.Equal(StatusCode.NotFound, e.StatusCode);
            e = await Assert.ThrowsAsync<RpcException>(() => client.GetSandboxAsync(new GetSandboxRequest { Id = reused.Id }).ResponseAsync);
            Assert.Equal(StatusCode.NotFound, e.StatusCode);
            Assert.False(Sandbox.Tests.Common.HostProcess.IsLive(reusedBwrap.Value));
            Assert.Equal(SandboxState.Running, (await client.GetSandboxAsync(new GetSandboxRequest { Id = alive.Id })).State);
            Assert.Equal(new[] { alive.Id + ".json" }, Directory.GetFiles(Path.Combine(root, "state", "sandboxes")).Select(Path.GetFileName));
            Assert.Equal(new[] { alive.Id + ".sock" }, Directory.GetFiles(Path.Combine(root, "state", "channels")).Select(Path.GetFileName));
            Assert.All(Leftovers(config), d => Assert.Equal(alive.Id, Path.GetFileName(d)));
            var metrics = (await client.GetMetricsAsync(new GetMetricsRequest())).Text;
            Assert.Contains("sandboxd_restart_reclaimed_total 2", metrics);
            Assert.Contains("sandboxd_restart_reattached_total 1", metrics);
            // And it works after the restart.
            var r = await Streams.RunAsync(client, Streams.Process("echo", "after restart"));
            Assert.Equal("after restart\n", r.Stdout);
            Assert.Equal("ok\n", (await Streams.ExecAsync(client, alive.Id, Streams.Process("echo", "ok"))).Stdout);
        }
        finally
        {
            daemon.Kill9();
            await CleanUpAsync(root, config);
        }
    }

    [Fact]
    public async Task OrderlyStop_DeletesSandboxes_NothingIsReattached()
    {
        var root = SandboxdServer.NewRoot();
        var yaml = SandboxdServer.Yaml(root);
        var config = ConfigLoader.Parse(yaml);
        var configFile = Path.Combine(root, "sandboxd.yaml");
        await File.WriteAllTextAsync(configFile, yaml);
        var daemon = await Daemon.StartAsync(configFile, config.Listen.UnixPath);
        try
        {
            using (var channel = SandboxdChannel.ForUnixSocket(config.Listen.UnixPath))
            {
                var client = new Sandboxes.SandboxesClient(channel);
                await client.CreateSandboxAsync(Streams.Trusted());
                Assert.Equal(0, (await Streams.RunAsync(client, Streams.Process("true"))).Exit!.ExitCode);
            }
            Assert.NotEmpty(CgroupParentDirs(config));
            await daemon.TerminateAsync();
            Assert.Empty(Leftovers(config));
            Assert.Empty(Directory.GetFiles(Path.Combine(root, "state", "sandboxes")));
            Assert.Empty(Directory.GetFiles(Path.Combine(root, "state", "channels")));
            Assert.Empty(BwrapsUnder(root));
            // Issue 9 item 6: not even the empty parents are left in the cgroup tree.
            Assert.Empty(CgroupParentDirs(config));
        }
        finally
        {
            daemon.Kill9();
            await CleanUpAsync(root, config);
        }
    }

    [Fact]
    public async Task StopForRestart_LeavesSandboxes_TheNextSandboxdReattachesThem()
    {
        // SIGUSR2 is what systemd/sandboxd-stop sends when the stop is part of `systemctl restart`.
        var root = SandboxdServer.NewRoot();
        var yaml = SandboxdServer.Yaml(root);
        var config = ConfigLoader.Parse(yaml);
        var configFile = Path.Combine(root, "sandboxd.yaml");
        await File.WriteAllTextAsync(configFile, yaml);
        var daemon = await Daemon.StartAsync(configFile, config.Listen.UnixPath);
        try
        {
            string id;
            using (var channel = SandboxdChannel.ForUnixSocket(config.Listen.UnixPath))
            {
                var client = new Sandboxes.SandboxesClient(channel);
                id = (await client.CreateSandboxAsync(Streams.Trusted())).Id;
                Assert.Equal(0, (await Streams.ExecAsync(client, id, Streams.Process("sh", "-c", "sleep 1003 </dev/null >/dev/null 2>&1 &"))).Exit!.ExitCode);
            }
            await daemon.TerminateAsync("-USR2");
            Assert.Equal(0, daemon.ExitCode);
            // The exec ended with its shell, whose background child may not have exec'd sleep yet on a loaded host.
            Assert.Contains("sleep 1003", ProcessesOnceShowing(config, id, "sleep 1003"));
            Assert.Single(Directory.GetFiles(Path.Combine(root, "state", "sandboxes")));

            daemon = await Daemon.StartAsync(configFile, config.Listen.UnixPath);
            using (var channel = SandboxdChannel.ForUnixSocket(config.Listen.UnixPath))
            {
                var client = new Sandboxes.SandboxesClient(channel);
                Assert.Equal(SandboxState.Running, (await client.GetSandboxAsync(new GetSandboxRequest { Id = id })).State);
                Assert.Contains("sandboxd_restart_reattached_total 1", (await client.GetMetricsAsync(new GetMetricsRequest())).Text);
            }
            await daemon.TerminateAsync();
            Assert.Empty(Leftovers(config));
            Assert.Empty(BwrapsUnder(root));
        }
        finally
        {
            daemon.Kill9();
            await CleanUpAsync(root, config);
        }
    }

    [Fact]
    public async Task KillNine_ThenRestart_ReattachesARunningMicroVm()
    {
        // Untrusted code: the default policy sends it to a microVM. QEMU outlives a killed sandboxd; the next one takes
        // the VM back through the driver's attachment record (QMP and agent sockets in the state directory).
        var root = SandboxdServer.NewRoot();
        var yaml = SandboxdServer.Yaml(root);
        var config = ConfigLoader.Parse(yaml);
        var configFile = Path.Combine(root, "sandboxd.yaml");
        await File.WriteAllTextAsync(configFile, yaml);
        var daemon = await Daemon.StartAsync(configFile, config.Listen.UnixPath);
        try
        {
            string id;
            using (var channel = SandboxdChannel.ForUnixSocket(config.Listen.UnixPath))
            {
                var client = new Sandboxes.SandboxesClient(channel);
                var sb = await client.CreateSandboxAsync(new CreateSandboxRequest { Untrusted = true });
                Assert.Equal(Tier.Microvm, sb.Tier);
                id = sb.Id;
                Assert.Equal(0, (await Streams.ExecAsync(client, id, Streams.Process("sh", "-c", "echo before > /work/x"))).Exit!.ExitCode);
            }
            daemon.Kill9();

            daemon = await Daemon.StartAsync(configFile, config.Listen.UnixPath);
            using (var channel = SandboxdChannel.ForUnixSocket(config.Listen.UnixPath))
            {
                var client = new Sandboxes.SandboxesClient(channel);
                Assert.Equal(SandboxState.Running, (await client.GetSandboxAsync(new GetSandboxRequest { Id = id })).State);
                Assert.Contains("sandboxd_restart_reattached_total 1", (await client.GetMetricsAsync(new GetMetricsRequest())).Text);
                var echo = await Streams.ExecAsync(client, id, Streams.Process("sh", "-c", "cat /work/x; echo after"));
                Assert.Equal("before\nafter\n", echo.Stdout);
                await client.DeleteSandboxAsync(new DeleteSandboxRequest { Id = id });
            }
            Assert.Empty(Directory.GetFiles(Path.Combine(root, "state", "sandboxes")));
        }
        finally
        {
            daemon.Kill9();
            // A VM left by a failed assertion: one more sandboxd takes it back and its orderly stop deletes it.
            if (Directory.GetFiles(Path.Combine(root, "state", "sandboxes")).Length > 0)
                await (await Daemon.StartAsync(configFile, config.Listen.UnixPath)).TerminateAsync();
            await CleanUpAsync(root, config);
        }
    }

    private static async Task<string> ReadAllAsync(Sandboxes.SandboxesClient client, string id, string path)
    {
        using var call = client.ReadFile(new ReadFileRequest { SandboxId = id, Path = path });
        var buffer = new MemoryStream();
        while (await call.ResponseStream.MoveNext())
            call.ResponseStream.Current.Data.WriteTo(buffer);
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>The command lines of the processes in a sandbox's cgroup (pids hierarchy on v1, unified on v2).</summary>
    private static List<string> ProcessesOnceShowing(SandboxdConfig config, string id, string expected)
    {
        // Generous: the host is shared and loaded, and the bound only matters when the process never shows.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        var procs = Processes(config, id);
        while (!procs.Contains(expected) && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(20);
            procs = Processes(config, id);
        }
        return procs;
    }

    /// <summary>Whether <paramref name="pid"/> is gone or a zombie within <paramref name="bound"/> (bwrap of a daemon
    /// killed with -9 is not this process's child: its exit is polled).</summary>
    private static bool ProcessGone(int pid, TimeSpan bound)
    {
        var deadline = DateTime.UtcNow + bound;
        while (true)
        {
            try
            {
                if (File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal))
                    return true;
            }
            catch (IOException)
            {
                return true;
            }
            if (DateTime.UtcNow > deadline)
                return false;
            Thread.Sleep(20);
        }
    }

    private static List<string> Processes(SandboxdConfig config, string id)
    {
        // A long-lived sandbox's processes live in its sub-cgroups (the agent's, each exec's).
        var procs = new[] { "/sys/fs/cgroup/pids", "/sys/fs/cgroup" }
            .Select(h => Path.Combine(h, config.Container.CgroupParent, id))
            .FirstOrDefault(d => File.Exists(Path.Combine(d, "cgroup.procs")));
        if (procs is null)
            return [];
        var result = new List<string>();
        foreach (var pid in CgroupTree.Procs(procs))
        {
            try
            {
                result.Add(File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim());
            }
            catch (IOException)
            {
            }
        }
        return result;
    }

    private static int BwrapPid(SandboxdConfig config, string id)
    {
        var dir = new[] { "/sys/fs/cgroup/pids", "/sys/fs/cgroup" }
            .Select(h => Path.Combine(h, config.Container.CgroupParent, id))
            .First(d => File.Exists(Path.Combine(d, "cgroup.procs")));
        var all = CgroupTree.Procs(dir);
        foreach (var pid in all)
        {
            // The outer bwrap (host-side, not in the sandbox's pid namespace) is the one whose parent is outside the
            // cgroup. Other processes of the tree (an exec that just ended) may be gone by now: they read as parent 0.
            var ppid = Sandbox.Tests.Common.HostProcess.ParentPid(pid);
            if (ppid != 0 && Sandbox.Tests.Common.HostProcess.Comm(pid) == "bwrap" && !all.Contains(ppid))
                return pid;
        }
        return -1;
    }

    /// <summary>bwrap processes in a cgroup under this test's cgroup parent (/proc/PID/cgroup).</summary>
    private static List<int> BwrapsUnder(string root)
    {
        var parent = "sandboxd-test-" + Path.GetFileName(root);
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
                continue;
            try
            {
                if (File.ReadAllText(Path.Combine(dir, "comm")).Trim() == "bwrap" && File.ReadAllText(Path.Combine(dir, "cgroup")).Contains("/" + parent + "/"))
                    found.Add(pid);
            }
            catch (IOException)
            {
            }
        }
        return found;
    }

    /// <summary>Whatever a failed test left: kill the sandboxes' cgroups (start a sandboxd once more and stop it in
    /// order), then remove the root.</summary>
    private static async Task CleanUpAsync(string root, SandboxdConfig config)
    {
        if (Leftovers(config).Count > 0)
        {
            try
            {
                var daemon = await Daemon.StartAsync(Path.Combine(root, "sandboxd.yaml"), config.Listen.UnixPath);
                await daemon.TerminateAsync();
            }
            catch (Exception)
            {
            }
        }
        SandboxdServer.RemoveCgroupParents(config.Container.CgroupParent);
        Directory.Delete(root, recursive: true);
    }

    [Fact]
    public async Task BadConfig_RefusesToStart_NamingTheKey()
    {
        var root = SandboxdServer.NewRoot();
        var file = Path.Combine(root, "bad.yaml");
        await File.WriteAllTextAsync(file, "listen:\n  unix_pth: /tmp/x.sock\nsandboxes:\n  default_ttl_s: soon\n");
        var (code, output) = await Daemon.RunToEndAsync("--config", file, "--check-config");
        Directory.Delete(root, recursive: true);
        Assert.Equal(2, code);
        Assert.Contains("listen.unix_pth: unknown key (line 2, column 3)", output);
        Assert.Contains("sandboxes.default_ttl_s: expected an integer, got 'soon'", output);
    }

    [NodeFact]
    public async Task NodeClient_CreateExecReadDelete_FromProtoFilesAlone()
    {
        var (code, output) = await Node.RunAsync(null, shared.Server.SocketPath);
        Assert.True(code == 0, output);
        Assert.Contains("node-client: ok", output);
    }

    [NodeFact]
    public async Task PeerCredentials_MapUidsToTenants_AndRejectUnknownUids()
    {
        var root = SandboxdServer.NewRoot();
        File.SetUnixFileMode(root, (UnixFileMode)0b111_101_101);
        await using var server = await SandboxdServer.StartAsync(SandboxdServer.Yaml(root, unixMode: "0666"), root);
        // uid 4242 is tenant "ci" (tenants[].uids): the full create/exec/read/delete cycle works for it...
        var (code, output) = await Node.RunAsync(4242, server.SocketPath);
        Assert.True(code == 0, output);
        // ...and what it created belonged to "ci", not to the root tenant.
        Assert.Empty((await server.Client.ListSandboxesAsync(new ListSandboxesRequest(), SandboxdServer.As("ci"))).Sandboxes);
        // uid 4343 is nobody's.
        (code, output) = await Node.RunAsync(4343, server.SocketPath, "--expect-unauthenticated");
        Assert.True(code == 0, output);
    }

    /// <summary>The cgroup parents of both tiers, wherever they are (any hierarchy, at its root or below a delegated
    /// cgroup).</summary>
    internal static IReadOnlyList<string> CgroupParentDirs(SandboxdConfig config)
    {
        var names = new[] { config.Container.CgroupParent, config.Container.CgroupParent + "-vm" };
        return Directory.EnumerateDirectories("/sys/fs/cgroup", "*", new EnumerationOptions { RecurseSubdirectories = true, MaxRecursionDepth = 4, IgnoreInaccessible = true })
            .Where(d => names.Contains(Path.GetFileName(d)))
            .ToList();
    }

    private static IReadOnlyList<string> Leftovers(SandboxdConfig config) =>
        Directory.EnumerateDirectories("/sys/fs/cgroup")
            .Select(h => Path.Combine(h, config.Container.CgroupParent))
            .Where(Directory.Exists)
            .SelectMany(Directory.EnumerateDirectories)
            .ToList();
}

/// <summary>Runs tests/node-client/client-test.js, optionally as another uid through setpriv.</summary>
internal static class Node
{
    private static string? FindClientDir()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "node-client");
            if (File.Exists(Path.Combine(dir.FullName, "Sandbox.sln")) && Directory.Exists(candidate))
                return candidate;
        }
        return null;
    }

    public static string? Unusable()
    {
        if (!File.Exists("/usr/bin/node") && !File.Exists("/usr/local/bin/node"))
            return "node is not installed (apt-get install nodejs npm)";
        if (FindClientDir() is not { } dir)
            return "tests/node-client not found above the test binaries";
        if (!Directory.Exists(Path.Combine(dir, "node_modules", "@grpc", "grpc-js")))
            return "run 'npm install' in tests/node-client (scripts/bootstrap.sh does)";
        return null;
    }

    public static async Task<(int Code, string Output)> RunAsync(int? uid, string socket, params string[] extra)
    {
        var script = Path.Combine(FindClientDir()!, "client-test.js");
        var psi = new ProcessStartInfo(uid is null ? "node" : "/usr/bin/setpriv") { RedirectStandardOutput = true, RedirectStandardError = true };
        if (uid is { } u)
        {
            foreach (var a in new[] { $"--reuid={u}", $"--regid={u}", "--clear-groups", "node" })
                psi.ArgumentList.Add(a);
        }
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(socket);
        foreach (var a in extra)
            psi.ArgumentList.Add(a);
        psi.Environment["HOME"] = "/tmp";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return (p.ExitCode, await stdout + await stderr);
    }
}

public sealed class NodeFactAttribute : FactAttribute
{
    public NodeFactAttribute()
    {
        if (Node.Unusable() is { } reason)
            Skip = reason;
    }
}
