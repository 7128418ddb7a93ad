using System.Diagnostics;

namespace Sandbox.Cli.Tests;

/// <summary>The CLI on a terminal (util-linux `script` gives it a pty as stdin and stdout): exactly the workload's bytes,
/// no escape sequences of its own; -it is an interactive pty session.</summary>
[Collection("cli")]
public sealed class TerminalTests(CliFixture f)
{
    private async Task<string> OnTerminalAsync(string cli)
    {
        var published = Environment.GetEnvironmentVariable("SANDBOX_CLI");
        var exe = published is { Length: > 0 } ? published : $"dotnet {Path.Combine(AppContext.BaseDirectory, "sandbox.dll")}";
        var psi = new ProcessStartInfo("script", ["-qec", $"{exe} {cli}", "/dev/null"]) { RedirectStandardOutput = true, RedirectStandardInput = true };
        psi.Environment["SANDBOX_SOCKET"] = f.Socket;
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        using var guard = new CancellationTokenSource(CliProcess.HangGuard);
        var output = await p.StandardOutput.ReadToEndAsync(guard.Token);
        await p.WaitForExitAsync(guard.Token);
        return output;
    }

    [Fact]
    public async Task A_run_on_a_terminal_writes_only_the_workloads_output()
    {
        Assert.Equal("hi\r\n", await OnTerminalAsync("run --trusted echo hi"));
    }

    [Fact]
    public async Task Run_it_gives_an_interactive_pty()
    {
        var output = await OnTerminalAsync("run -it --trusted sh -c 'tty; test -t 0 && echo stdin-tty'");
        Assert.Matches(@"^/dev/pts/\d+\r\nstdin-tty\r\n$", output);
    }
}
