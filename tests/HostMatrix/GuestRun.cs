using System.Diagnostics;
using System.Text;

namespace Sandbox.HostMatrix;

/// <summary>One scenario's outcome as the guest reported it, with what it printed.</summary>
public sealed record ScenarioResult(string Name, bool Passed, string Reason, string Log);

/// <summary>
/// One boot of the host-matrix guest (scripts/hostmatrix/run.sh MODE): builds or reuses the cached Debian image, boots
/// it under QEMU with systemd and cgroup v2, installs the project inside and runs the mode's scenarios. Every test of
/// a run shares it (the boot is the expensive part); each test then checks its own scenario's result line.
/// </summary>
public sealed class GuestRun
{
    private static readonly Lazy<Task<GuestRun>> Shared = new(() => StartAsync(HostMatrixPrerequisites.Mode));

    public static Task<GuestRun> Get() => Shared.Value;

    public required string Mode { get; init; }
    public required int ExitCode { get; init; }
    public required string Output { get; init; }
    public required IReadOnlyDictionary<string, ScenarioResult> Scenarios { get; init; }

    /// <summary>The scenario's result, or a description of why there is none (the guest never got to it).</summary>
    public ScenarioResult Scenario(string name) =>
        Scenarios.TryGetValue(name, out var result)
            ? result
            : new ScenarioResult(name, false, $"the guest reported no result for '{name}' (run.sh exit {ExitCode})", Tail(Output, 60));

    private static async Task<GuestRun> StartAsync(string mode)
    {
        var script = Path.Combine(HostMatrixPrerequisites.RepoRoot, "scripts", "hostmatrix", "run.sh");
        var psi = new ProcessStartInfo(script, [mode])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = HostMatrixPrerequisites.RepoRoot,
        };
        psi.Environment["SANDBOX_HOSTMATRIX_ARTIFACTS"] = HostMatrixPrerequisites.ArtifactsDir;
        var output = new StringBuilder();
        using var process = new Process { StartInfo = psi };
        // Progress goes to the test host's console too: an image build or a TCG boot takes minutes.
        void OnLine(string? line)
        {
            if (line is null) return;
            lock (output) output.AppendLine(line);
            Console.Error.WriteLine($"[hostmatrix] {line}");
        }
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        // run.sh bounds the guest itself (SANDBOX_HOSTMATRIX_TIMEOUT_S); this bounds the image build and publish too.
        var limit = TimeSpan.FromMinutes(mode == "full" ? 60 : 40);
        using var cts = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            OnLine($"@@hostmatrix host: run.sh killed after {limit.TotalMinutes} minutes");
        }
        process.WaitForExit();
        string text;
        lock (output) text = output.ToString();
        return new GuestRun { Mode = mode, ExitCode = process.ExitCode, Output = text, Scenarios = Parse(text) };
    }

    /// <summary>Reads the guest's "@@hostmatrix begin NAME", "    | output" and "@@hostmatrix pass|fail NAME[: why]" lines.</summary>
    public static IReadOnlyDictionary<string, ScenarioResult> Parse(string output)
    {
        var results = new Dictionary<string, ScenarioResult>();
        var log = new StringBuilder();
        foreach (var raw in output.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.StartsWith("@@hostmatrix begin ", StringComparison.Ordinal))
            {
                log.Clear();
            }
            else if (line.StartsWith("    | ", StringComparison.Ordinal))
            {
                log.AppendLine(line[6..]);
            }
            else if (line.StartsWith("@@hostmatrix pass ", StringComparison.Ordinal) || line.StartsWith("@@hostmatrix fail ", StringComparison.Ordinal))
            {
                var passed = line[13] == 'p';
                var rest = line[18..];
                var colon = rest.IndexOf(':');
                var name = colon < 0 ? rest.Trim() : rest[..colon].Trim();
                var reason = colon < 0 ? "" : rest[(colon + 1)..].Trim();
                results[name] = new ScenarioResult(name, passed, reason, log.ToString());
            }
        }
        return results;
    }

    private static string Tail(string text, int lines) =>
        string.Join('\n', text.Split('\n').TakeLast(lines));
}
