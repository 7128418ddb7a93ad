using Sandbox.AgentProtocol.V1;

namespace Sandbox.Agent;

/// <summary>One process started by Exec: its pipes and, once reaped, its exit status.</summary>
internal sealed class ExecState(string id, int pid, OutputPipe stdout, OutputPipe stderr, StdinPipe? stdin)
{
    private readonly TaskCompletionSource<WaitResponse> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string Id { get; } = id;
    public int Pid { get; } = pid;
    public OutputPipe Stdout { get; } = stdout;
    public OutputPipe Stderr { get; } = stderr;
    public StdinPipe? Stdin { get; } = stdin;

    /// <summary>Set under the process table's lock when the process was reaped.</summary>
    public bool HasExited { get; private set; }

    /// <summary>The workload cgroup's oom_kill count when it was spawned (microVM guest; 0 otherwise).</summary>
    public long OomBaseline { get; init; }

    /// <summary>Where it was born (the guest's root, a pod's second container): whose OOM count judges its SIGKILL.</summary>
    public SpawnConfinement? Confinement { get; init; }

    public Task<WaitResponse> Exited => _exited.Task;

    /// <summary>A held exec's go (the write end of its first stage's descriptor 3), -1 once released or for an exec
    /// that was not held. Used under the table's lock.</summary>
    public int HoldFd { get; set; } = -1;

    /// <summary>Writes the go and closes it; false when the exec is not (or no longer) held.</summary>
    public unsafe bool TryRelease()
    {
        if (HoldFd < 0) return false;
        byte go = 1;
        var written = Interop.Libc.write(HoldFd, &go, 1);
        Interop.Libc.close(HoldFd);
        HoldFd = -1;
        return written == 1;
    }

    /// <summary>The exec's pty (Exec with a tty); closed when the process is reaped. Used under the table's lock.</summary>
    public Terminal? Terminal { get; init; }

    /// <summary>Fully consumed: reaped and both output streams handed out to the end.</summary>
    public bool Finished => HasExited && Stdout.Drained && Stderr.Drained;

    internal void Complete(int status, in Interop.Libc.RUsage usage, bool oomKilled = false)
    {
        HasExited = true;
        Terminal?.Dispose();
        if (HoldFd >= 0)
        {
            // Ended before it was released (killed): nothing to let go any more.
            Interop.Libc.close(HoldFd);
            HoldFd = -1;
        }
        var response = new WaitResponse
        {
            UserCpuUsec = usage.UTime.Sec * 1_000_000 + usage.UTime.USec,
            SystemCpuUsec = usage.STime.Sec * 1_000_000 + usage.STime.USec,
            MaxRssKib = usage.MaxRss,
            OomKilled = oomKilled,
        };
        int termSig = status & 0x7f;
        if (termSig == 0) response.ExitCode = (status >> 8) & 0xff;
        else response.Signal = termSig;
        _exited.TrySetResult(response);
    }
}
