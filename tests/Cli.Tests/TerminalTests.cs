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

    /// <summary>An interactive shell on a pty the test owns: the initial size, a resize (the CLI's SIGWINCH reaches the
    /// sandbox's pty), and the shell's exit status as the CLI's.</summary>
    private static async Task InteractiveShellFollowsResizesAsync(IReadOnlyList<string> cliArgs, string tierLine, IReadOnlyDictionary<string, string> environment)
    {
        var published = Environment.GetEnvironmentVariable("SANDBOX_CLI");
        var (file, prefix) = published is { Length: > 0 } ? (published, Array.Empty<string>()) : ("dotnet", [Path.Combine(AppContext.BaseDirectory, "sandbox.dll")]);
        var guard = CliProcess.HangGuard;
        using var pty = new Pty(30, 100);
        using var cli = pty.Start(file, [.. prefix, .. cliArgs], environment);
        try
        {
            var at = await pty.WaitForAsync(tierLine, 0, guard);
            at = await pty.WaitForAsync(@"\$ $", at, guard);                 // the shell's prompt
            pty.Write("stty size\r");
            at = await pty.WaitForAsync(@"30 100\r\n", at, guard);
            pty.Resize(50, 132);
            // The CLI forwards SIGWINCH as a resize while the typing travels on its own: ask until the new size shows
            // (each round waits for the shell's answer, never for time).
            for (var round = 0; ; round++)
            {
                Assert.True(round < 20, "the resize never reached the sandbox's terminal:\n" + pty.Output);
                pty.Write("stty size\r");
                at = await pty.WaitForAsync(@"\d+ \d+\r\n", at, guard);
                if (pty.Output[..at].EndsWith("50 132\r\n", StringComparison.Ordinal))
                    break;
            }
            pty.Write("exit 3\r");
            await cli.WaitForExitAsync(new CancellationTokenSource(guard).Token);
            Assert.True(cli.ExitCode == 3, $"exit {cli.ExitCode}:\n{pty.Output}");
        }
        finally
        {
            if (!cli.HasExited)
                cli.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public async Task Run_it_on_the_microvm_tier_gives_a_pty_that_follows_resizes()
    {
        await InteractiveShellFollowsResizesAsync(["run", "-it", "-v", "--tier", "microvm", "--", "sh"], "microvm tier",
            new Dictionary<string, string> { ["SANDBOX_SOCKET"] = f.Socket });
    }

    [Fact]
    public async Task Run_local_it_gives_a_pty_that_follows_resizes()
    {
        await InteractiveShellFollowsResizesAsync(["run", "--local", "-it", "-v", "--trusted", "--", "sh"], "container tier",
            new Dictionary<string, string>());
    }

    [Fact]
    public async Task Run_local_t_runs_on_a_pty_of_the_terminals_size()
    {
        // Exactly the sandbox pty's bytes: the CLI's own terminal adds no second "\r" (its output processing is off).
        Assert.Matches(@"^/dev/pts/\d+\r\n\d+ \d+\r\n$", await OnTerminalAsync("run --local -t --trusted sh -c 'tty; stty size'"));
        Assert.Matches(@"^/dev/pts/\d+\r\n$", await OnTerminalAsync("run -t --trusted tty"));
    }

    [Fact]
    public async Task Run_it_gives_an_interactive_pty()
    {
        var output = await OnTerminalAsync("run -it --trusted sh -c 'tty; test -t 0 && echo stdin-tty'");
        Assert.Matches(@"^/dev/pts/\d+\r\nstdin-tty\r\n$", output);
    }
}
