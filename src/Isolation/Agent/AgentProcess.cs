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

    private readonly AgentClient _agent;
    private readonly string _execId;
    private readonly Task<ExitStatus> _completion;

    public int Pid { get; }

    private AgentProcess(AgentClient agent, string execId, int pid, Task<ExitStatus> completion)
    {
        _agent = agent;
        _execId = execId;
        Pid = pid;
        _completion = completion;
    }

    public static AgentProcess Start(AgentClient agent, string execId, int pid, TimeSpan? timeout, long outputCap, ProcessIO io,
        Func<bool> oomKilled, CancellationToken sandboxGone)
    {
        var completion = SuperviseAsync(agent, execId, timeout, outputCap, io, oomKilled, sandboxGone);
        return new AgentProcess(agent, execId, pid, completion);
    }

    public Task SignalAsync(int signal, CancellationToken cancellationToken) =>
        AgentCalls.RunAsync(() => _agent.SignalAsync(new SignalRequest { ExecId = _execId, Signal = signal }, cancellationToken));

    public Task<ExitStatus> WaitAsync(CancellationToken cancellationToken) => _completion.WaitAsync(cancellationToken);

    private static async Task<ExitStatus> SuperviseAsync(AgentClient agent, string execId, TimeSpan? timeout, long outputCap, ProcessIO io,
        Func<bool> oomKilled, CancellationToken sandboxGone)
    {
        await Task.Yield();
        var stopwatch = Stopwatch.StartNew();
        var outCap = new OutputCap(io.Stdout, outputCap);
        var errCap = new OutputCap(io.Stderr, outputCap);
        using var pumpsStop = CancellationTokenSource.CreateLinkedTokenSource(sandboxGone);
        var pumps = Task.WhenAll(
            PullAsync(agent, execId, OutputStream.Stdout, outCap, pumpsStop.Token),
            PullAsync(agent, execId, OutputStream.Stderr, errCap, pumpsStop.Token));
        var stdin = io.Stdin is not null ? PushStdinAsync(agent, execId, io.Stdin, pumpsStop.Token) : Task.CompletedTask;

        var timedOut = false;
        using var limit = timeout is { } t ? CancellationTokenSource.CreateLinkedTokenSource(sandboxGone) : null;
        limit?.CancelAfter(timeout!.Value);
        var wait = AgentCalls.RunAsync(() => agent.WaitAsync(new WaitRequest { ExecId = execId }, sandboxGone));
        if (limit is not null)
        {
            var expired = Task.Delay(Timeout.Infinite, limit.Token);
            if (await Task.WhenAny(wait, expired).ConfigureAwait(false) == expired && !sandboxGone.IsCancellationRequested)
            {
                timedOut = true;
                await AgentCalls.RunAsync(() => agent.SignalAsync(
                    new SignalRequest { ExecId = execId, Signal = ExitStatusMapper.SIGKILL }, CancellationToken.None)).ConfigureAwait(false);
            }
        }
        var exit = await wait.ConfigureAwait(false);
        if (await Task.WhenAny(pumps, Task.Delay(s_outputGrace, sandboxGone)).ConfigureAwait(false) != pumps)
            await pumpsStop.CancelAsync().ConfigureAwait(false);
        await SwallowCancellation(pumps).ConfigureAwait(false);
        await pumpsStop.CancelAsync().ConfigureAwait(false);
        await SwallowCancellation(stdin).ConfigureAwait(false);

        var (code, signal) = ExitStatusMapper.FromWait(exit.ExitCode, exit.Signal);
        var usage = new ResourceUsage(TimeSpan.FromMicroseconds(exit.UserCpuUsec + exit.SystemCpuUsec), exit.MaxRssKib * 1024);
        return ExitStatusMapper.Build(code, signal, timedOut, exit.OomKilled || oomKilled(), outCap.Truncated || errCap.Truncated, stopwatch.Elapsed, usage);
    }

    private static async Task PullAsync(AgentClient agent, string execId, OutputStream stream, OutputCap cap, CancellationToken cancellationToken)
    {
        while (true)
        {
            var chunk = await AgentCalls.RunAsync(() => agent.ReadOutputAsync(
                new ReadOutputRequest { ExecId = execId, Stream = stream, MaxBytes = ReadChunkBytes }, cancellationToken)).ConfigureAwait(false);
            if (!chunk.Data.IsEmpty)
                await cap.WriteAsync(chunk.Data.Memory, cancellationToken).ConfigureAwait(false);
            if (chunk.Eof)
                return;
        }
    }

    private static async Task PushStdinAsync(AgentClient agent, string execId, Stream source, CancellationToken cancellationToken)
    {
        var buffer = new byte[StdinChunkBytes];
        try
        {
            while (true)
            {
                var n = await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                await agent.WriteStdinAsync(new WriteStdinRequest
                {
                    ExecId = execId,
                    Data = ByteString.CopyFrom(buffer, 0, n),
                    Close = n == 0,
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

    private static async Task SwallowCancellation(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
