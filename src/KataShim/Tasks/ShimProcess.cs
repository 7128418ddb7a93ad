using Sandbox.Core;
using Sandbox.Isolation;
using Sandbox.KataShim.Io;

namespace Sandbox.KataShim.Tasks;

internal enum ProcessStatus
{
    Created,
    Running,
    Stopped,
}

/// <summary>One process of a task: the init (exec id "") or an exec. Created by Create/Exec, running after Start,
/// stopped once it exited and its output reached the client. <see cref="WaitAsync"/> ends after the exit was published.</summary>
internal sealed class ShimProcess(string containerId, string execId, ProcessSpec spec, TaskStdio stdio, StdioPaths paths)
{
    private readonly Lock _lock = new();
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ProcessStatus _status = ProcessStatus.Created;

    public string ContainerId => containerId;
    /// <summary>"" for the init process.</summary>
    public string ExecId => execId;
    public bool IsInit => execId.Length == 0;
    public ProcessSpec Spec => spec;
    public TaskStdio Stdio => stdio;
    public StdioPaths Paths => paths;
    public SandboxService.RunningProcess? Running { get; private set; }
    public int Pid { get; private set; }
    public uint ExitStatus { get; private set; }
    public DateTimeOffset? ExitedAt { get; private set; }
    /// <summary>A ResizePty that came before Start: applied when the process starts.</summary>
    public TerminalSize? PendingSize { get; set; }

    public ProcessStatus Status
    {
        get
        {
            lock (_lock)
                return _status;
        }
    }

    public Task Exited => _exited.Task;

    /// <summary>Moves Created → Running; false when it was not Created (started twice, or killed before start).</summary>
    public bool TryMarkStarting()
    {
        lock (_lock)
        {
            if (_status != ProcessStatus.Created || Running is not null)
                return false;
            Running = null;
            _status = ProcessStatus.Running;
            return true;
        }
    }

    public void Started(SandboxService.RunningProcess running)
    {
        Running = running;
        Pid = running.Pid;
    }

    /// <summary>Records the exit (first call wins); the caller publishes TaskExit and then calls <see cref="ReleaseWaiters"/>.</summary>
    public bool TryMarkStopped(uint exitStatus, DateTimeOffset at)
    {
        lock (_lock)
        {
            if (_status == ProcessStatus.Stopped)
                return false;
            _status = ProcessStatus.Stopped;
            ExitStatus = exitStatus;
            ExitedAt = at;
            return true;
        }
    }

    public void ReleaseWaiters() => _exited.TrySetResult();
}

/// <summary>The stdio strings containerd gave, reported back by State.</summary>
internal sealed record StdioPaths(string Stdin, string Stdout, string Stderr, bool Terminal);
