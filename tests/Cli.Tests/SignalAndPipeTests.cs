using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Sandbox.Cli.Tests;

/// <summary>Signals reach the workload (a trap fires), a second Ctrl-C kills, a closed stdout ends the run.</summary>
[Collection("cli")]
public sealed partial class SignalAndPipeTests(CliFixture f)
{
    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    private async Task<(int Code, string Output)> SignalAsync(string script, params int[] signals)
    {
        var (p, output) = await CliProcess.StartUntilAsync(f.Socket, "ready", "run", "--trusted", "sh", "-c", script);
        using (p)
        {
            foreach (var s in signals)
                Assert.Equal(0, Kill(p.Id, s));
            using var guard = new CancellationTokenSource(CliProcess.HangGuard);
            output.Append(await p.StandardOutput.ReadToEndAsync(guard.Token));
            await p.WaitForExitAsync(guard.Token);
            return (p.ExitCode, output.ToString());
        }
    }

    [Fact]
    public async Task Ctrl_C_is_forwarded_and_a_trap_fires()
    {
        var (code, output) = await SignalAsync("trap 'echo trapped; exit 5' INT; echo ready; sleep 60 & wait", 2);
        Assert.Equal((5, "ready\ntrapped\n"), (code, output));
    }

    [Fact]
    public async Task SIGTERM_without_a_trap_exits_143_like_a_shell()
    {
        var (code, _) = await SignalAsync("echo ready; sleep 60", 15);
        Assert.Equal(143, code);
    }

    [Fact]
    public async Task A_second_Ctrl_C_kills_and_exits_130()
    {
        // The workload survives SIGINT (its trap only reports it): the first is forwarded, the second kills. The second
        // is sent once the first has arrived: two SIGINTs sent back to back can be merged into one by the kernel.
        var (p, _) = await CliProcess.StartUntilAsync(f.Socket, "ready", "run", "--trusted", "sh", "-c",
            "trap 'echo got-int' INT; echo ready; while :; do sleep 0.1; done");
        using (p)
        {
            Assert.Equal(0, Kill(p.Id, 2));
            using (var seen = new CancellationTokenSource(CliProcess.HangGuard))
                while (await p.StandardOutput.ReadLineAsync(seen.Token) is { } line && line != "got-int") { }
            Assert.Equal(0, Kill(p.Id, 2));
            using var guard = new CancellationTokenSource(CliProcess.HangGuard);
            await p.WaitForExitAsync(guard.Token);
            Assert.Equal(ExitCodes.Interrupted, p.ExitCode);
        }
    }

    [Fact]
    public async Task A_closed_stdout_ends_the_run()
    {
        var p = Process.Start(CliProcess.StartInfo(f.Socket, ["run", "--trusted", "--", "yes"]))!;
        using (p)
        {
            Assert.Equal("y", await p.StandardOutput.ReadLineAsync());
            p.StandardOutput.Close(); // like `| head -1`
            using var guard = new CancellationTokenSource(CliProcess.HangGuard);
            await p.WaitForExitAsync(guard.Token);
            Assert.Equal(ExitCodes.BrokenPipe, p.ExitCode);
        }
        Assert.Empty((await CliProcess.RunAsync(f.Socket, "ps", "-q")).Stdout); // the run's sandbox is gone
    }
}
