using Sandbox.Isolation.Interop;
using Sandbox.Isolation.Native;

namespace Sandbox.Isolation.MicroVm;

/// <summary>A running QEMU: its pid and pidfd (signals never hit a recycled pid), reaped exactly once.</summary>
internal sealed class QemuProcess : IAsyncDisposable
{
    private readonly FileDescriptor _pidfd;
    private readonly TaskCompletionSource<int> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _reaped;

    public int Pid { get; }

    private QemuProcess(int pid, FileDescriptor pidfd)
    {
        Pid = pid;
        _pidfd = pidfd;
    }

    public static QemuProcess Start(IReadOnlyList<string> argv, IReadOnlyList<NativeSpawn.FdMapping> fds)
    {
        var pid = NativeSpawn.Spawn(argv[0], argv, ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], fds, newSession: true);
        var pidfd = Libc.PidfdOpen(pid, 0);
        if (pidfd < 0)
        {
            var err = Errno.Fail($"pidfd_open({pid})");
            Libc.Kill(pid, Libc.SIGKILL);
            unsafe
            {
                Libc.SigInfoChild info;
                while (Libc.WaitId(Libc.P_PID, pid, &info, Libc.WEXITED) != 0 && Errno.Last == Errno.EINTR) { }
            }
            throw err;
        }
        var process = new QemuProcess(pid, new FileDescriptor(pidfd));
        _ = process.WatchAsync();
        return process;
    }

    /// <summary>Completes with the exit status (128+signal when killed) once QEMU is reaped.</summary>
    public Task<int> Exited => _exit.Task;

    public void Kill()
    {
        if (Volatile.Read(ref _reaped) == 0)
            Libc.PidfdSendSignal(_pidfd.Fd, Libc.SIGKILL, 0, 0);
    }

    /// <summary>Polls with WNOHANG (cheap, no thread parked per VM) until QEMU has exited.</summary>
    private async Task WatchAsync()
    {
        var delay = 5;
        while (!TryReap())
        {
            await Task.Delay(delay).ConfigureAwait(false);
            delay = Math.Min(delay * 2, 100);
        }
    }

    private unsafe bool TryReap()
    {
        if (Volatile.Read(ref _reaped) != 0) return true;
        Libc.SigInfoChild info = default;
        if (Libc.WaitId(Libc.P_PIDFD, _pidfd.Fd, &info, Libc.WEXITED | Libc.WNOHANG) != 0)
        {
            if (Errno.Last == Errno.EINTR) return false;
            Interlocked.Exchange(ref _reaped, 1);
            _exit.TrySetResult(-1);
            return true;
        }
        if (info.Pid == 0) return false;
        Interlocked.Exchange(ref _reaped, 1);
        _exit.TrySetResult(info.Code == Libc.CLD_EXITED ? info.Status : 128 + info.Status);
        return true;
    }

    /// <summary>Kills QEMU if still there and waits (bounded) for it to be reaped; never throws.</summary>
    public async ValueTask DisposeAsync()
    {
        Kill();
        await Task.WhenAny(_exit.Task, Task.Delay(TimeSpan.FromSeconds(10))).ConfigureAwait(false);
        if (_exit.Task.IsCompleted)
            _pidfd.Dispose();
        // else: the watcher still owns the pidfd and reaps QEMU when it finally dies (D state); never leak a zombie.
    }
}
