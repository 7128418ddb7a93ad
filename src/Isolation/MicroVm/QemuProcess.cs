using Sandbox.Isolation.Container;
using Sandbox.Isolation.Interop;
using Sandbox.Isolation.Native;

namespace Sandbox.Isolation.MicroVm;

/// <summary>A running QEMU: its pid and pidfd (signals never hit a recycled pid); its exit is learned from
/// <see cref="ProcessWatcher"/>, which reaps it exactly once when it is our child.</summary>
internal sealed class QemuProcess : IAsyncDisposable
{
    private static readonly TimeSpan s_reapTimeout = TimeSpan.FromSeconds(10);

    private readonly PidfdHandle _pidfd;
    private readonly Task<ProcessExit> _exit;
    private int _disposed;

    public int Pid { get; }

    /// <summary>Start time (clock ticks after boot, /proc/PID/stat field 22): with <see cref="Pid"/>, names it for good.</summary>
    public ulong StartTime { get; }

    /// <summary>Taken back after a restart of its owner: not our child (observed, never reaped here).</summary>
    public bool IsAttached { get; }

    private QemuProcess(int pid, ulong startTime, PidfdHandle pidfd, bool attached)
    {
        Pid = pid;
        StartTime = startTime;
        _pidfd = pidfd;
        IsAttached = attached;
        _exit = ProcessWatcher.WatchAsync(pidfd, reap: !attached);
    }

    public static QemuProcess Start(IReadOnlyList<string> argv, IReadOnlyList<NativeSpawn.FdMapping> fds)
    {
        var pid = NativeSpawn.Spawn(argv[0], argv, ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], fds, newSession: true);
        PidfdHandle pidfd;
        try
        {
            pidfd = PidfdHandle.Open(pid);
        }
        catch
        {
            Libc.Kill(pid, Libc.SIGKILL);
            unsafe
            {
                Libc.SigInfoChild info;
                while (Libc.WaitId(Libc.P_PID, pid, &info, Libc.WEXITED) != 0 && Errno.Last == Errno.EINTR) { }
            }
            throw;
        }
        // Unreaped, the pid's /proc entry is ours to read (a zombie keeps it): read before the watcher may reap.
        var startTime = ProcStat.Read(pid)?.StartTime ?? 0;
        return new QemuProcess(pid, startTime, pidfd, attached: false);
    }

    /// <summary>A QEMU started by an earlier owner: null unless <paramref name="pid"/> is still that very process
    /// (same start time, not a zombie, checked before and after the pidfd is opened).</summary>
    public static QemuProcess? Attach(int pid, ulong startTime)
    {
        if (pid <= 0 || ProcStat.Read(pid) is not { IsGone: false } before || before.StartTime != startTime)
            return null;
        if (PidfdHandle.TryOpen(pid) is not { } pidfd)
            return null;
        if (ProcStat.Read(pid) is not { IsGone: false } after || after.StartTime != startTime)
        {
            pidfd.Dispose();
            return null;
        }
        return new QemuProcess(pid, startTime, pidfd, attached: true);
    }

    /// <summary>Completes with the exit status (128+signal when killed; null when not our child) once QEMU is gone.</summary>
    public Task<ProcessExit> Exited => _exit;

    public void Kill() => Signal(Libc.SIGKILL);

    /// <summary>Sends <paramref name="signal"/> to QEMU; false when it has already exited.</summary>
    public bool Signal(int signal) => !_exit.IsCompleted && _pidfd.Signal(signal);

    /// <summary>Lets go of QEMU without touching it (closes the pidfd only): a VM handed to another owner.</summary>
    public void Forget()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _pidfd.Dispose();
    }

    /// <summary>Kills QEMU if still there and waits (bounded) for it to be gone; never throws. A QEMU stuck in D state
    /// past the bound stays registered with the watcher, which reaps it when it finally dies: never a zombie.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        Kill();
        try
        {
            await _exit.WaitAsync(s_reapTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
        _pidfd.Dispose();
    }
}
