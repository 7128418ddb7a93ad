using System.Collections.Concurrent;
using Sandbox.Isolation.Interop;

namespace Sandbox.Isolation.Native;

/// <summary>How a watched process ended. <see cref="Status"/> is its exit code, or 128 + the signal that killed it;
/// null when it was not our child (re-attached after a restart: its status went to its parent).</summary>
internal readonly record struct ProcessExit(int? Status)
{
    public override string ToString() => Status is { } s ? (s > 128 ? $"killed by signal {s - 128}" : $"exit code {s}") : "exited";
}

/// <summary>
/// The one place the host learns that a process it supervises (bwrap, QEMU, and later pasta, slirp4netns, shim
/// children) has exited: a single thread waits in epoll on every registered pidfd (readable when the process exits)
/// and completes that process's task. A child is reaped there, exactly once, with waitid(P_PIDFD); a process that is
/// not our child (taken back after a restart) is only observed. No polling loop, no thread per process.
/// </summary>
internal static class ProcessWatcher
{
    private sealed record Registration(PidfdHandle Pidfd, bool Reap, TaskCompletionSource<ProcessExit> Exit);

    private static readonly ConcurrentDictionary<ulong, Registration> s_watched = new();
    private static readonly Lazy<int> s_epoll = new(Start);
    private static long s_nextKey;

    /// <summary>Completes when the process of <paramref name="pidfd"/> has exited (and, with <paramref name="reap"/>,
    /// was reaped: only for our own children). The handle is kept open until then; disposing it meanwhile is safe.</summary>
    public static unsafe Task<ProcessExit> WatchAsync(PidfdHandle pidfd, bool reap)
    {
        var epoll = s_epoll.Value;
        var added = false;
        pidfd.DangerousAddRef(ref added);
        var key = (ulong)Interlocked.Increment(ref s_nextKey);
        var registration = new Registration(pidfd, reap, new(TaskCreationOptions.RunContinuationsAsynchronously));
        s_watched[key] = registration;
        var ev = new Libc.EpollEvent { Events = Libc.EPOLLIN, Data = key };
        if (Libc.EpollCtl(epoll, Libc.EPOLL_CTL_ADD, (int)pidfd.DangerousGetHandle(), &ev) != 0)
        {
            var error = Errno.Fail($"epoll_ctl(ADD, pidfd of {pidfd.Pid})");
            s_watched.TryRemove(key, out _);
            pidfd.DangerousRelease();
            throw error;
        }
        return registration.Exit.Task;
    }

    /// <summary>How many processes are watched now (tests check that nothing stays registered).</summary>
    public static int Count => s_watched.Count;

    private static int Start()
    {
        var epoll = Libc.EpollCreate1(Libc.EPOLL_CLOEXEC);
        if (epoll < 0)
            throw Errno.Fail("epoll_create1");
        new Thread(() => Loop(epoll)) { IsBackground = true, Name = "sandbox-process-watcher" }.Start();
        return epoll;
    }

    private static unsafe void Loop(int epoll)
    {
        const int batch = 32;
        var events = stackalloc Libc.EpollEvent[batch];
        while (true)
        {
            var n = Libc.EpollWait(epoll, events, batch, -1);
            if (n < 0)
            {
                if (Errno.Last == Errno.EINTR) continue;
                // Nothing sensible is left to do: fail every waiter rather than leave them hanging.
                var error = Errno.Fail("epoll_wait");
                foreach (var key in s_watched.Keys)
                    if (s_watched.TryRemove(key, out var r)) Complete(epoll, r, () => r.Exit.TrySetException(error));
                return;
            }
            for (var i = 0; i < n; i++)
            {
                if (!s_watched.TryRemove(events[i].Data, out var registration)) continue;
                var exit = registration.Reap ? Reap(registration.Pidfd) : new ProcessExit(null);
                Complete(epoll, registration, () => registration.Exit.TrySetResult(exit));
            }
        }
    }

    private static unsafe void Complete(int epoll, Registration registration, Action complete)
    {
        Libc.EpollCtl(epoll, Libc.EPOLL_CTL_DEL, (int)registration.Pidfd.DangerousGetHandle(), null);
        registration.Pidfd.DangerousRelease();
        complete();
    }

    private static unsafe ProcessExit Reap(PidfdHandle pidfd)
    {
        Libc.SigInfoChild info = default;
        while (Libc.WaitId(Libc.P_PIDFD, (int)pidfd.DangerousGetHandle(), &info, Libc.WEXITED) != 0)
        {
            if (Errno.Last != Errno.EINTR)
                return new ProcessExit(null); // ECHILD: someone else reaped it (never us twice)
        }
        return new ProcessExit(info.Code == Libc.CLD_EXITED ? info.Status : 128 + info.Status);
    }
}
