using System.IO.Pipes;
using System.Text;
using Sandbox.Isolation;

namespace Sandbox.E2E;

/// <summary>Execs on a pseudo-terminal (ProcessSpec.Tty): a real pty inside the sandbox, the process's controlling
/// terminal, resizable from the host; on both tiers.</summary>
public sealed class TerminalTests
{
    public static TheoryData<ExecutionMode> Modes => [ExecutionMode.Agent, ExecutionMode.MicroVm];

    private static readonly TimeSpan s_hangGuard = TimeSpan.FromSeconds(120);

    [Theory, MemberData(nameof(Modes))]
    public async Task A_tty_exec_runs_on_its_own_controlling_pty(ExecutionMode mode)
    {
        using var guard = new CancellationTokenSource(s_hangGuard);
        await using var sandbox = await Harness.DriverFor(mode).CreateAsync(new SandboxSpec(), guard.Token);
        var stdout = new MemoryStream();
        var stderr = new MemoryStream();
        // /dev/tty opens only for a process that has a controlling terminal.
        var p = await sandbox.ExecAsync(Harness.Sh("tty; test -t 0 && test -t 1 && test -t 2 && echo all-tty; echo x > /dev/tty && echo ctty; stty size; echo err >&2")
            with { Tty = new TerminalSize(30, 100) }, new ProcessIO { Stdout = stdout, Stderr = stderr }, guard.Token);
        var status = await p.WaitAsync(guard.Token);
        var output = Encoding.UTF8.GetString(stdout.ToArray());
        Assert.Equal(0, status.ExitCode);
        Assert.Matches(@"^/dev/pts/\d+\r\n", output);
        Assert.Contains("all-tty\r\n", output);
        Assert.Contains("ctty\r\n", output);
        Assert.Contains("30 100\r\n", output);
        // stderr is the terminal too: it arrives with the output, the stderr stream stays empty.
        Assert.Contains("err\r\n", output);
        Assert.Empty(stderr.ToArray());
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Resize_changes_what_the_process_sees(ExecutionMode mode)
    {
        using var guard = new CancellationTokenSource(s_hangGuard);
        await using var sandbox = await Harness.DriverFor(mode).CreateAsync(new SandboxSpec(), guard.Token);
        using var input = new AnonymousPipeServerStream(PipeDirection.Out);
        using var stdin = new AnonymousPipeClientStream(PipeDirection.In, input.ClientSafePipeHandle);
        var stdout = new MemoryStream();
        // The shell waits for a line, so the resize below lands before stty reads the size.
        var p = await sandbox.ExecAsync(Harness.Sh("read line; stty size") with { Tty = TerminalSize.Default },
            new ProcessIO { Stdin = stdin, Stdout = stdout }, guard.Token);
        await p.ResizeAsync(new TerminalSize(50, 132), guard.Token);
        await input.WriteAsync("go\n"u8.ToArray(), guard.Token);
        input.Dispose(); // end of stdin: the host's stdin pump finishes too
        var status = await p.WaitAsync(guard.Token);
        Assert.Equal(0, status.ExitCode);
        Assert.Contains("50 132\r\n", Encoding.UTF8.GetString(stdout.ToArray()));
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Resize_without_a_tty_and_bad_sizes_are_refused(ExecutionMode mode)
    {
        using var guard = new CancellationTokenSource(s_hangGuard);
        await using var sandbox = await Harness.DriverFor(mode).CreateAsync(new SandboxSpec(), guard.Token);
        var p = await sandbox.ExecAsync(Harness.Sh("sleep 30"), new ProcessIO(), guard.Token);
        var e = await Assert.ThrowsAsync<SandboxException>(() => p.ResizeAsync(new TerminalSize(10, 10), guard.Token));
        Assert.Equal(SandboxErrorCode.FailedPrecondition, e.Code);
        Assert.Contains("no terminal", e.Message);
        var bad = await Assert.ThrowsAsync<SpecValidationException>(() => p.ResizeAsync(new TerminalSize(0, 80), guard.Token));
        Assert.Contains("0x80", bad.Message);
        await Assert.ThrowsAsync<SpecValidationException>(() =>
            sandbox.ExecAsync(Harness.Sh("true") with { Tty = new TerminalSize(24, 70000) }, new ProcessIO(), guard.Token));
        await p.SignalAsync(9, guard.Token);
        await p.WaitAsync(guard.Token);
    }

    [Fact]
    public async Task The_one_shot_path_refuses_a_tty()
    {
        var e = await Assert.ThrowsAsync<SandboxException>(() =>
            Harness.Driver.RunAsync(new SandboxSpec(), Harness.Sh("true") with { Tty = TerminalSize.Default }, new ProcessIO(), CancellationToken.None));
        Assert.Equal(SandboxErrorCode.InvalidArgument, e.Code);
        Assert.Contains("long-lived", e.Message);
    }
}
