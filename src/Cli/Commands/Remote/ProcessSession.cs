using System.Runtime.InteropServices;
using Google.Protobuf;
using Grpc.Core;
using Sandbox.Api.V1;
using Sandbox.Cli.Terminal;

namespace Sandbox.Cli.Commands.Remote;

/// <summary>One Exec or Run call (<see cref="ProcessCall"/>) driven from this terminal, with a shell's manners: stdin streamed (-i), a pty with raw mode
/// and window resizes (-t), SIGINT/SIGTERM/SIGHUP/SIGQUIT forwarded to the process (a trap fires; a second Ctrl-C kills
/// it and exits 130), and a closed stdout (EPIPE, `| head -1`) ends the run (exit 141, as a shell reports SIGPIPE).
/// All writes into the call go through one lock: a gRPC request stream takes one write at a time.</summary>
internal sealed class ProcessSession(ProcessCall call, bool interactive, bool tty) : IDisposable
{
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private int _interrupts;
    private volatile bool _brokenPipe;
    private volatile bool _killed;

    public void Dispose() => _writeLock.Dispose();

    /// <summary>Starts the call, pumps everything until the exit event; returns the exit code. <paramref name="onStarted"/>
    /// sees the `started` event (where the process runs and with what limits).</summary>
    public async Task<int> RunAsync(Action<Started>? onStarted, CancellationToken cancellationToken)
    {
        using var kill = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        await WriteAsync(call.StartAsync, kill.Token);
        using var raw = !tty ? null : interactive ? RawMode.Enter() : RawMode.EnterOutput();
        var registrations = new List<PosixSignalRegistration>
        {
            PosixSignalRegistration.Create(PosixSignal.SIGINT, c => OnSignal(c, 2, kill)),
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => OnSignal(c, 15, kill)),
            PosixSignalRegistration.Create(PosixSignal.SIGHUP, c => OnSignal(c, 1, kill)),
            PosixSignalRegistration.Create(PosixSignal.SIGQUIT, c => OnSignal(c, 3, kill)),
        };
        if (tty)
            registrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGWINCH, c => { c.Cancel = true; _ = ResizeAsync(kill.Token); }));
        try
        {
            // The request stream stays open until the process exits, stdin or not: signals and resizes travel on it.
            // A blocked read of stdin is abandoned when the process exits (the CLI exits after it).
            if (interactive)
                _ = Task.Run(() => PumpStdinAsync(kill.Token), CancellationToken.None);
            Exit? exit = null;
            try
            {
                exit = await ReadEventsAsync(onStarted, kill);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && (_brokenPipe || _killed))
            {
            }
            catch (OperationCanceledException) when (_brokenPipe || _killed)
            {
            }
            raw?.Dispose();
            if (_brokenPipe)
                return ExitCodes.BrokenPipe;
            if (_killed)
            {
                StdStreams.Error("killed (second interrupt)");
                return ExitCodes.Interrupted;
            }
            return Outcome(exit);
        }
        finally
        {
            foreach (var r in registrations)
                r.Dispose();
        }
    }

    private void OnSignal(PosixSignalContext context, int number, CancellationTokenSource kill)
    {
        context.Cancel = true;
        if (number == 2 && Interlocked.Increment(ref _interrupts) > 1)
        {
            _killed = true;
            kill.Cancel(); // ending the call SIGKILLs the process
            return;
        }
        _ = ForwardAsync(number, kill.Token);
    }

    private async Task ForwardAsync(int number, CancellationToken cancellationToken)
    {
        try
        {
            await WriteAsync(ct => call.SignalAsync(number, ct), cancellationToken);
        }
        catch (Exception e) when (e is RpcException or OperationCanceledException or InvalidOperationException)
        {
            // The call ended meanwhile: the process is gone already.
        }
    }

    private async Task ResizeAsync(CancellationToken cancellationToken)
    {
        if ((TerminalNative.WindowSize(1) ?? TerminalNative.WindowSize(0)) is not { } size)
            return;
        try
        {
            await WriteAsync(ct => call.ResizeAsync(new WindowSize { Rows = (uint)size.Rows, Cols = (uint)size.Cols }, ct), cancellationToken);
        }
        catch (Exception e) when (e is RpcException or OperationCanceledException or InvalidOperationException)
        {
        }
    }

    /// <summary>The initial window size for a tty (this terminal's, else 24x80).</summary>
    public static WindowSize InitialSize() =>
        (TerminalNative.WindowSize(1) ?? TerminalNative.WindowSize(0)) is { } s ? new WindowSize { Rows = (uint)s.Rows, Cols = (uint)s.Cols } : new WindowSize { Rows = 24, Cols = 80 };

    private async Task PumpStdinAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var stdin = StdStreams.OpenIn();
            var buffer = new byte[64 * 1024];
            int n;
            while ((n = await stdin.ReadAsync(buffer, cancellationToken)) > 0)
            {
                var data = ByteString.CopyFrom(buffer, 0, n);
                await WriteAsync(ct => call.StdinAsync(data, ct), cancellationToken);
            }
            await WriteAsync(call.CloseStdinAsync, cancellationToken);
        }
        catch (Exception e) when (e is RpcException or OperationCanceledException or InvalidOperationException or IOException)
        {
            // The process exited (the call completed) while stdin was still open.
        }
    }

    private async Task WriteAsync(Func<CancellationToken, Task> write, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            await write(cancellationToken);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task<Exit?> ReadEventsAsync(Action<Started>? onStarted, CancellationTokenSource kill)
    {
        Exit? exit = null;
        var stdout = StdStreams.Out;
        var stderr = StdStreams.Err;
        while (await call.Events.MoveNext(kill.Token))
        {
            var e = call.Events.Current;
            try
            {
                switch (e.EventCase)
                {
                    case ExecEvent.EventOneofCase.Stdout: e.Stdout.WriteTo(stdout); break;
                    case ExecEvent.EventOneofCase.Stderr: e.Stderr.WriteTo(stderr); break;
                    case ExecEvent.EventOneofCase.Exit: exit = e.Exit; break;
                    case ExecEvent.EventOneofCase.Started: onStarted?.Invoke(e.Started); break;
                }
            }
            catch (IOException)
            {
                // EPIPE: whoever read our output is gone; end the run (the process is killed with the call).
                _brokenPipe = true;
                await kill.CancelAsync();
                return null;
            }
        }
        return exit;
    }

    /// <summary>The exit event as an exit code, with a line on stderr for what the engine did (timeout, OOM, truncation).</summary>
    public static int Outcome(Exit? exit)
    {
        if (exit is null)
        {
            StdStreams.Error("sandboxd ended the call without an exit status");
            return ExitCodes.SandboxError;
        }
        if (exit.TimedOut)
        {
            StdStreams.Error($"timed out after {exit.Duration?.ToTimeSpan().TotalSeconds:0.###} s");
            return ExitCodes.Timeout;
        }
        if (exit.OomKilled)
        {
            StdStreams.Error("killed by the OOM killer (the sandbox's memory limit)");
            return ExitCodes.OutOfMemory;
        }
        if (exit.Truncated)
            StdStreams.Error("output truncated at the sandbox's output limit");
        return exit.ExitCode;
    }
}
