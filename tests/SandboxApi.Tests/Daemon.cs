using System.Diagnostics;
using Grpc.Core;
using Sandbox.Api;

namespace Sandbox.SandboxApi.Tests;

/// <summary>sandboxd as a child process (the built sandboxd.dll beside the tests), started on a config file and
/// ready once its health service answers SERVING.</summary>
internal sealed class Daemon
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

    /// <param name="environment">Variables set for the daemon on top of this process's (e.g. its own TMPDIR).</param>
    public static async Task<Daemon> StartAsync(string configFile, string socket, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = Info("--config", configFile);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
            psi.Environment[name] = value;
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        // Bounded generously: a JIT-compiled daemon starting on a loaded, shared host is slow.
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(120))
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
        throw new TimeoutException("sandboxd did not become healthy within 120 s");
    }

    public int ExitCode => _process.ExitCode;

    public int Pid => _process.Id;

    /// <summary>The daemon's resident set now, KiB (VmRSS in /proc/PID/status): what the kernel charges it, read from
    /// outside the process.</summary>
    public long RssKiB()
    {
        foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        }
        throw new InvalidOperationException($"no VmRSS in /proc/{_process.Id}/status");
    }

    /// <summary>SIGTERM (an orderly stop: sandboxd deletes its sandboxes), or another signal, and wait for the exit.</summary>
    public async Task TerminateAsync(string signal = "-TERM")
    {
        if (_process.HasExited)
            return;
        using (var kill = Process.Start("kill", [signal, _process.Id.ToString()]))
            await kill.WaitForExitAsync();
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
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
