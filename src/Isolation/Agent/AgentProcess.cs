using System.Diagnostics;
using Google.Protobuf;
using Sandbox.AgentProtocol.V1;
using Sandbox.Isolation.IO;

namespace Sandbox.Isolation.Agent;

/// <summary>A process the agent started (in a container or a microVM guest, the same code for both tiers): pulls its output (long polls, so the process feels backpressure when the
/// caller is slow), pushes its stdin, enforces its wall-clock limit, and builds its <see cref="ExitStatus"/>.</summary>
internal sealed class AgentProcess : ISandboxProcess
{
    private const uint ReadChunkBytes = 256 * 1024;
    private const int StdinChunkBytes = 256 * 1024;
    /// <summary>How long output is still collected after exit, for descendants that keep the streams open.</summary>
    private static readonly TimeSpan s_outputGrace = TimeSpan.FromSeconds(2);

    private readonly AgentChannel _agent;
    private readonly string _execId;
    private readonly Task<ExitStatus> _completion;

    public int Pid { get; }

    private readonly Func<Task>? _hostKill;

    private AgentProcess(AgentChannel agent, string execId, int pid, Task<ExitStatus> completion, Func<Task>? hostKill)
    {
        _hostKill = hostKill;
        _agent = agent;
        _execId = execId;
        Pid = pid;
        _completion = completion;
    }

    /// <param name="hostKill">The host's own way to kill the exec and everything it started (its cgroup), whatever the
    /// agent does; null where the tier has none (the microVM guest: the agent is asked).</param>
    /// <param name="ended">Runs once the exec's status is known (the container tier removes the exec's cgroup).</param>
    public static AgentProcess Start(AgentChannel agent, string execId, int pid, TimeSpan? timeout, long outputCap, ProcessIO io,
        Func<bool> oomKilled, CancellationToken sandboxGone, Func<Task>? hostKill = null, Action? ended = null) =>
        Start(agent, execId, new ExecResponse { Pid = pid }, Stopwatch.GetTimestamp(), timeout, outputCap, io, oomKilled, sandboxGone, hostKill, ended);

    /// <param name="started">The agent's answer to the Exec: with <see cref="ExecRequest.WaitMs"/> it may carry the
    /// exec's end and output already (<see cref="AskForEnd"/>), and only what it lacks is asked for.</param>
    /// <param name="startedAt">When the Exec was sent (<see cref="Stopwatch.GetTimestamp"/>): the exec's duration and
    /// its wall-clock limit count from there.</param>
    public static AgentProcess Start(AgentChannel agent, string execId, ExecResponse started, long startedAt, TimeSpan? timeout, long outputCap,
        ProcessIO io, Func<bool> oomKilled, CancellationToken sandboxGone, Func<Task>? hostKill = null, Action? ended = null)
    {
        var completion = SuperviseAsync(agent, execId, started, startedAt, timeout, outputCap, io, oomKilled, hostKill, sandboxGone);
        return new AgentProcess(agent, execId, started.Pid, ended is null ? completion : ThenAsync(completion, ended), hostKill);
    }

    /// <summary>Asks the agent to hold the Exec's answer for the process's end and output (<see cref="ExecRequest.WaitMs"/>,
    /// <see cref="ExecRequest.MaxOutputBytes"/>, the reply's share at most the exec's output cap): a short exec is then
    /// one call, on either tier. Returns when the Exec is sent (<see cref="Stopwatch.GetTimestamp"/>), for
    /// <see cref="Start(AgentChannel, string, ExecResponse, long, TimeSpan?, long, ProcessIO, Func{bool}, CancellationToken, Func{Task}?, Action?)"/>.</summary>
    public static long AskForEnd(ExecRequest request, ProcessSpec spec, ProcessIO io, TimeSpan? timeout, long outputCap)
    {
        request.WaitMs = WaitMsFor(spec, io, timeout);
        request.MaxOutputBytes = (uint)Math.Clamp(outputCap, 1, AgentClient.DefaultExecOutputBytes);
        return Stopwatch.GetTimestamp();
    }

    /// <summary>How long the agent should hold an Exec's answer for the process's end: its output reaches the caller
    /// that much later at most (the first bytes of a long one), so the wait is short; 0 (answer at once) where the exec
    /// needs its input or a terminal, whose output must come as it is written.</summary>
    private static uint WaitMsFor(ProcessSpec spec, ProcessIO io, TimeSpan? timeout)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(io);
        if (io.Stdin is not null || spec.Tty is not null)
            return 0;
        var wait = ExecWait;
        if (timeout is { } t && t < wait)
            wait = t;
        return (uint)Math.Max(0, (int)wait.TotalMilliseconds);
    }

    /// <summary>See <see cref="AskForEnd"/>: long enough for most short commands here, short enough that the first
    /// output of a long one is not noticeably late.</summary>
    public static readonly TimeSpan ExecWait = TimeSpan.FromMilliseconds(50);

    private static async Task<ExitStatus> ThenAsync(Task<ExitStatus> completion, Action ended)
    {
        try
        {
            return await completion.ConfigureAwait(false);
        }
        finally
        {
            ended();
        }
    }

    /// <summary>SIGKILL is the host's own where it can kill the exec itself (its cgroup: everything the exec started,
    /// whatever the agent does); other signals go through the agent.</summary>
    public Task SignalAsync(int signal, CancellationToken cancellationToken) =>
        signal == ExitStatusMapper.SIGKILL && _hostKill is not null
            ? _hostKill()
            : _agent.CallAsync("Signal", (c, t) => c.SignalAsync(new SignalRequest { ExecId = _execId, Signal = signal }, t), cancellationToken);

    public Task ResizeAsync(TerminalSize size, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(size);
        if (size.Problem() is { } problem)
            throw new SpecValidationException([problem]);
        var request = new ResizeTtyRequest { ExecId = _execId, Size = new TtySize { Rows = (uint)size.Rows, Cols = (uint)size.Cols } };
        return _agent.CallAsync("ResizeTty", (c, t) => c.ResizeTtyAsync(request, t), cancellationToken);
    }

    public Task<ExitStatus> WaitAsync(CancellationToken cancellationToken) => _completion.WaitAsync(cancellationToken);

    /// <remarks>The wall-clock limit is the host's: when it passes, the process is reported timed out whatever the agent
    /// answers. The host kills the exec's cgroup itself where it has one (a stopped or lying agent changes nothing);
    /// otherwise the agent is asked to kill it (bounded). An agent that then does not report the end breaks the
    /// sandbox, whose kill (cgroup or QEMU) takes everything else.</remarks>
    private static async Task<ExitStatus> SuperviseAsync(AgentChannel agent, string execId, ExecResponse started, long startedAt, TimeSpan? timeout,
        long outputCap, ProcessIO io, Func<bool> oomKilled, Func<Task>? hostKill, CancellationToken sandboxGone)
    {
        var outCap = new OutputCap(io.Stdout, outputCap);
        var errCap = new OutputCap(io.Stderr, outputCap);
        if (started.Exit is { } ended && started.StdoutEof && started.StderrEof)
        {
            // The Exec's answer carried it all (ExecRequest.wait_ms): no call more, and no hop.
            await WriteAsync(outCap, started.Stdout, sandboxGone).ConfigureAwait(false);
            await WriteAsync(errCap, started.Stderr, sandboxGone).ConfigureAwait(false);
            return Status(ended, timedOut: false, outCap, errCap, oomKilled, Stopwatch.GetElapsedTime(startedAt));
        }
        await Task.Yield();
        await WriteAsync(outCap, started.Stdout, sandboxGone).ConfigureAwait(false);
        await WriteAsync(errCap, started.Stderr, sandboxGone).ConfigureAwait(false);
        using var pumpsStop = CancellationTokenSource.CreateLinkedTokenSource(sandboxGone);
        var pumps = Task.WhenAll(
            started.StdoutEof ? Task.CompletedTask : PullAsync(agent, execId, OutputStream.Stdout, outCap, pumpsStop.Token),
            started.StderrEof ? Task.CompletedTask : PullAsync(agent, execId, OutputStream.Stderr, errCap, pumpsStop.Token));
        var stdin = io.Stdin is not null ? PushStdinAsync(agent, execId, io.Stdin, pumpsStop.Token) : Task.CompletedTask;

        var timedOut = false;
        using var limit = timeout is { } t ? CancellationTokenSource.CreateLinkedTokenSource(sandboxGone) : null;
        // The limit counts from the Exec: an answer that waited for the end has used some of it.
        limit?.CancelAfter(TimeSpan.FromTicks(Math.Max(0, (timeout!.Value - Stopwatch.GetElapsedTime(startedAt)).Ticks)));
        var wait = started.Exit is { } exited
            ? Task.FromResult(exited)
            : agent.LongPollAsync("Wait", (c, token) => c.WaitAsync(new WaitRequest { ExecId = execId }, token), sandboxGone);
        if (limit is not null)
        {
            var expired = Task.Delay(Timeout.Infinite, limit.Token);
            if (await Task.WhenAny(wait, expired).ConfigureAwait(false) == expired && !sandboxGone.IsCancellationRequested)
            {
                timedOut = true;
                if (hostKill is not null)
                {
                    await hostKill().ConfigureAwait(false);
                }
                else
                {
                    try
                    {
                        await agent.CallAsync("Signal", (c, token) => c.SignalAsync(
                            new SignalRequest { ExecId = execId, Signal = ExitStatusMapper.SIGKILL }, token), CancellationToken.None).ConfigureAwait(false);
                    }
                    catch (SandboxException) when (agent.BrokenReason is not null)
                    {
                        // The sandbox's kill took the process; the wait below ends with the broken error.
                    }
                }
                // An agent that says it killed the process but never reports it gone is lying or wedged: the sandbox's
                // kill ends the process instead.
                if (await Task.WhenAny(wait, Task.Delay(agent.CallDeadline, sandboxGone)).ConfigureAwait(false) != wait
                    && !sandboxGone.IsCancellationRequested)
                {
                    await agent.MarkBrokenAsync($"its agent did not report the end of exec {execId} within {agent.CallDeadline.TotalSeconds:0} s of its time limit").ConfigureAwait(false);
                }
            }
        }
        WaitResponse? exit;
        try
        {
            exit = await wait.ConfigureAwait(false);
        }
        catch (SandboxException) when (timedOut && agent.BrokenReason is not null)
        {
            exit = null;
        }
        if (await Task.WhenAny(pumps, Task.Delay(s_outputGrace, sandboxGone)).ConfigureAwait(false) != pumps)
            await pumpsStop.CancelAsync().ConfigureAwait(false);
        await SwallowEnd(pumps, agent).ConfigureAwait(false);
        await pumpsStop.CancelAsync().ConfigureAwait(false);
        await SwallowEnd(stdin, agent).ConfigureAwait(false);

        if (exit is null)
        {
            // Timed out in a broken sandbox: killed with it, by SIGKILL; the agent's usage figures are gone.
            return ExitStatusMapper.Build(128 + ExitStatusMapper.SIGKILL, ExitStatusMapper.SIGKILL, timedOut: true, false,
                outCap.Truncated || errCap.Truncated, Stopwatch.GetElapsedTime(startedAt), new ResourceUsage(TimeSpan.Zero, 0));
        }
        return Status(exit, timedOut, outCap, errCap, oomKilled, Stopwatch.GetElapsedTime(startedAt));
    }

    private static ExitStatus Status(WaitResponse exit, bool timedOut, OutputCap outCap, OutputCap errCap, Func<bool> oomKilled, TimeSpan elapsed)
    {
        var (code, signal) = ExitStatusMapper.FromWait(exit.ExitCode, exit.Signal);
        var usage = new ResourceUsage(TimeSpan.FromMicroseconds(exit.UserCpuUsec + exit.SystemCpuUsec), exit.MaxRssKib * 1024);
        return ExitStatusMapper.Build(code, signal, timedOut, exit.OomKilled || oomKilled(), outCap.Truncated || errCap.Truncated, elapsed, usage);
    }

    private static async ValueTask WriteAsync(OutputCap cap, ByteString data, CancellationToken cancellationToken)
    {
        if (!data.IsEmpty)
            await cap.WriteAsync(data.Memory, cancellationToken).ConfigureAwait(false);
    }

    private static async Task PullAsync(AgentChannel agent, string execId, OutputStream stream, OutputCap cap, CancellationToken cancellationToken)
    {
        while (true)
        {
            var chunk = await agent.LongPollAsync("ReadOutput", (c, t) => c.ReadOutputAsync(
                new ReadOutputRequest { ExecId = execId, Stream = stream, MaxBytes = ReadChunkBytes }, t), cancellationToken).ConfigureAwait(false);
            if (!chunk.Data.IsEmpty)
                await cap.WriteAsync(chunk.Data.Memory, cancellationToken).ConfigureAwait(false);
            if (chunk.Eof)
                return;
        }
    }

    private static async Task PushStdinAsync(AgentChannel agent, string execId, Stream source, CancellationToken cancellationToken)
    {
        var buffer = new byte[StdinChunkBytes];
        try
        {
            while (true)
            {
                var n = await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                var request = new WriteStdinRequest { ExecId = execId, Data = ByteString.CopyFrom(buffer, 0, n), Close = n == 0 };
                // Backpressure: the agent answers when the process has taken the data, which may be never.
                await agent.LongPollAsync("WriteStdin", async (c, t) =>
                {
                    await c.WriteStdinAsync(request, t).ConfigureAwait(false);
                    return true;
                }, cancellationToken).ConfigureAwait(false);
                if (n == 0)
                    return;
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The process exited without reading all of its stdin: nothing more to deliver.
        }
    }

    /// <summary>Waits for a pump; its cancellation, or its failure in a sandbox that turned broken, is the expected end.</summary>
    private static async Task SwallowEnd(Task task, AgentChannel agent)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        catch (SandboxException) when (agent.BrokenReason is not null)
        {
        }
    }
}
