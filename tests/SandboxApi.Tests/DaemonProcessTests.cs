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
    public async Task KillNine_ThenRestart_CleansUpWhatWasLeft()
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
            var sb = await client.CreateSandboxAsync(new CreateSandboxRequest()); // as root: tenant acme, by SO_PEERCRED
            Assert.Equal("acme", sb.Tenant);
            Assert.Single(Directory.GetFiles(Path.Combine(root, "state", "sandboxes")));
            Assert.NotEmpty(Leftovers(config));

            daemon.Kill9();
            daemon = await Daemon.StartAsync(configFile, config.Listen.UnixPath);
            using var channel2 = SandboxdChannel.ForUnixSocket(config.Listen.UnixPath);
            client = new Sandboxes.SandboxesClient(channel2);
            var e = await Assert.ThrowsAsync<RpcException>(() => client.GetSandboxAsync(new GetSandboxRequest { Id = sb.Id }).ResponseAsync);
            Assert.Equal(StatusCode.NotFound, e.StatusCode);
            Assert.Empty(Directory.GetFiles(Path.Combine(root, "state", "sandboxes")));
            Assert.Empty(Leftovers(config));
            Assert.Contains("sandboxd_restart_reclaimed_total 1", (await client.GetMetricsAsync(new GetMetricsRequest())).Text);
            // And it works after the restart.
            var r = await Streams.RunAsync(client, Streams.Process("echo", "after restart"));
            Assert.Equal("after restart\n", r.Stdout);
        }
        finally
        {
            daemon.Kill9();
            Directory.Delete(root, recursive: true);
        }
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

    private static IReadOnlyList<string> Leftovers(SandboxdConfig config) =>
        Directory.EnumerateDirectories("/sys/fs/cgroup")
            .Select(h => Path.Combine(h, config.Container.CgroupParent))
            .Where(Directory.Exists)
            .SelectMany(Directory.EnumerateDirectories)
            .ToList();

    private sealed class Daemon
    {
        private readonly Process _process;

        private Daemon(Process process) => _process = process;

        private static ProcessStartInfo Info(params string[] args)
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "sandboxd.dll"));
            foreach (var a in args)
                psi.ArgumentList.Add(a);
            return psi;
        }

        public static async Task<(int, string)> RunToEndAsync(params string[] args)
        {
            using var p = Process.Start(Info(args))!;
            var output = await p.StandardOutput.ReadToEndAsync() + await p.StandardError.ReadToEndAsync();
            await p.WaitForExitAsync();
            return (p.ExitCode, output);
        }

        public static async Task<Daemon> StartAsync(string configFile, string socket)
        {
            var p = Process.Start(Info("--config", configFile))!;
            p.OutputDataReceived += (_, _) => { };
            p.ErrorDataReceived += (_, _) => { };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            var sw = Stopwatch.StartNew();
            while (sw.Elapsed < TimeSpan.FromSeconds(30))
            {
                if (p.HasExited)
                    throw new InvalidOperationException($"sandboxd exited with {p.ExitCode}");
                if (File.Exists(socket))
                {
                    try
                    {
                        using var channel = SandboxdChannel.ForUnixSocket(socket);
                        var health = await new Grpc.Health.V1.Health.HealthClient(channel).CheckAsync(new Grpc.Health.V1.HealthCheckRequest());
                        if (health.Status == Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving)
                            return new Daemon(p);
                    }
                    catch (RpcException)
                    {
                    }
                }
                await Task.Delay(100);
            }
            p.Kill();
            throw new TimeoutException("sandboxd did not become healthy within 30 s");
        }

        public void Kill9()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit();
            }
        }
    }
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
