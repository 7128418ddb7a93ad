using System.Diagnostics;
using System.Text;

namespace Sandbox.Cli.Tests;

/// <summary>The real `sandbox` CLI as a child process: $SANDBOX_CLI when set (a published NativeAOT binary), else
/// `dotnet sandbox.dll` from the build output; pointed at a test sandboxd through $SANDBOX_SOCKET.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr);

public static class CliProcess
{
    /// <summary>How long a CLI run may take before the test calls it hung. Generous: a microVM run through sandboxd on
    /// a machine without that VM's snapshot template (a clean CI machine, a rebuilt agent) cold-boots to build it first,
    /// which under TCG on a loaded 2-core host has taken over a minute.</summary>
    public static readonly TimeSpan HangGuard = TimeSpan.FromMinutes(5);

    public static ProcessStartInfo StartInfo(string socket, IEnumerable<string> args)
    {
        var published = Environment.GetEnvironmentVariable("SANDBOX_CLI");
        var psi = published is { Length: > 0 }
            ? new ProcessStartInfo(published)
            : new ProcessStartInfo("dotnet") { ArgumentList = { Path.Combine(AppContext.BaseDirectory, "sandbox.dll") } };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        psi.Environment["SANDBOX_SOCKET"] = socket;
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.RedirectStandardInput = true;
        psi.UseShellExecute = false;
        return psi;
    }

    public static Task<CliResult> RunAsync(string socket, params string[] args) => RunWithStdinAsync(socket, null, args);

    public static Task<CliResult> RunWithStdinAsync(string socket, string? stdin, params string[] args) => RunCoreAsync(StartInfo(socket, args), stdin);

    /// <summary>The CLI with these variables added to its environment.</summary>
    public static Task<CliResult> RunWithEnvironmentAsync(string socket, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var psi = StartInfo(socket, args);
        foreach (var (name, value) in environment)
            psi.Environment[name] = value;
        return RunCoreAsync(psi, null);
    }

    private static async Task<CliResult> RunCoreAsync(ProcessStartInfo psi, string? stdin)
    {
        using var p = Process.Start(psi)!;
        using var guard = new CancellationTokenSource(HangGuard);
        var stdout = p.StandardOutput.ReadToEndAsync(guard.Token);
        var stderr = p.StandardError.ReadToEndAsync(guard.Token);
        if (stdin is not null)
            await p.StandardInput.WriteAsync(stdin);
        p.StandardInput.Close();
        await p.WaitForExitAsync(guard.Token);
        var result = new CliResult(p.ExitCode, await stdout, await stderr);
        Assert.DoesNotContain("   at ", result.Stderr); // never a .NET stack trace
        Assert.DoesNotContain("\u001b", result.Stdout + result.Stderr); // never an escape sequence nobody asked for
        return result;
    }

    /// <summary>Starts the CLI and returns once its stdout printed <paramref name="marker"/> (a line).</summary>
    public static Task<(Process Process, StringBuilder Output)> StartUntilAsync(string socket, string marker, params string[] args) =>
        StartUntilAsync(StartInfo(socket, args), marker);

    /// <summary>As <see cref="StartUntilAsync(string, string, string[])"/>, with these variables added to its environment.</summary>
    public static Task<(Process Process, StringBuilder Output)> StartUntilAsync(string socket, IReadOnlyDictionary<string, string> environment, string marker, params string[] args)
    {
        var psi = StartInfo(socket, args);
        foreach (var (name, value) in environment)
            psi.Environment[name] = value;
        return StartUntilAsync(psi, marker);
    }

    private static async Task<(Process Process, StringBuilder Output)> StartUntilAsync(ProcessStartInfo psi, string marker)
    {
        var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var output = new StringBuilder();
        using var guard = new CancellationTokenSource(HangGuard);
        while (await p.StandardOutput.ReadLineAsync(guard.Token) is { } line)
        {
            output.AppendLine(line);
            if (line == marker)
                return (p, output);
        }
        throw new Xunit.Sdk.XunitException($"the CLI ended before printing '{marker}': {output}{await p.StandardError.ReadToEndAsync()}");
    }
}
