using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Sandbox.Isolation.Interop;
using Sandbox.Isolation.Native;

namespace Sandbox.Isolation.Container;

/// <summary>A running bwrap: its pid and pidfd, the status socket on which it reports the sandbox's init pid and
/// later the exit code, and the block socket that holds the sandbox before it runs anything until
/// <see cref="Release"/> (time to move it into its cgroup and set its rlimits). Its exit is learned from
/// <see cref="ProcessWatcher"/>, which reaps it when it is our child.</summary>
internal sealed class BwrapProcess : IAsyncDisposable
{
    private const int MaxStatusLine = 4096;
    private static readonly TimeSpan s_reapTimeout = TimeSpan.FromSeconds(10);

    private readonly PidfdHandle _pidfd;
    private readonly Socket? _status;
    private readonly Socket? _block;
    private readonly StreamReader? _statusReader;
    private Task<ProcessExit>? _exit;
    private int _disposed;

    public int Pid { get; }

    /// <summary>Start time of the process (clock ticks after boot): with <see cref="Pid"/>, names it for good.</summary>
    public ulong StartTime { get; }

    /// <summary>Taken back by <see cref="Attach"/>: not our child (no status socket, not reaped here).</summary>
    public bool IsAttached => _status is null;

    private BwrapProcess(int pid, ulong startTime, PidfdHandle pidfd, Socket? status, Socket? block)
    {
        Pid = pid;
        StartTime = startTime;
        _pidfd = pidfd;
        _status = status;
        _block = block;
        _statusReader = status is null ? null : new StreamReader(new NetworkStream(status, ownsSocket: false), Encoding.UTF8, false, 1024);
        // Our child is watched (and reaped) from the start; an attached one only once someone asks (see Exited), so a
        // failed attach that lets go of it (Forget) leaves nothing registered.
        if (status is not null)
            _exit = ProcessWatcher.WatchAsync(pidfd, reap: true);
    }

    /// <summary>Completes when bwrap has exited (and, when it is our child, was reaped).</summary>
    public Task<ProcessExit> Exited
    {
        get
        {
            if (Volatile.Read(ref _exit) is { } exit) return exit;
            lock (_pidfd)
                return _exit ??= ProcessWatcher.WatchAsync(_pidfd, reap: false);
        }
    }

    /// <summary>A bwrap started by an earlier process (a daemon that was restarted): null unless <paramref name="pid"/>
    /// is still the very process that was started (same start time, not a zombie). Its exit is learned by polling a
    /// pidfd; its exit code is not known.</summary>
    public static BwrapProcess? Attach(int pid, ulong startTime)
    {
        if (pid <= 0 || ProcStat.Read(pid) is not { IsGone: false } before || before.StartTime != startTime)
            return null;
        if (PidfdHandle.TryOpen(pid) is not { } fd)
            return null;
        // The pidfd names whatever held the pid when it was opened: check again that it is still the same process.
        if (ProcStat.Read(pid) is not { IsGone: false } after || after.StartTime != startTime)
        {
            fd.Dispose();
            return null;
        }
        return new BwrapProcess(pid, startTime, fd, null, null);
    }

    /// <summary>Spawns bwrap (through the launch chain that drops root to its owner uid) with the given descriptors in place.</summary>
    public static BwrapProcess Start(IReadOnlyList<string> argv, IReadOnlyList<string> envp, IReadOnlyList<NativeSpawn.FdMapping> fds)
    {
        var (status, statusRemote) = UnixSocketPair.Create();
        var (block, blockRemote) = UnixSocketPair.Create();
        try
        {
            using (statusRemote)
            using (blockRemote)
            {
                var all = new List<NativeSpawn.FdMapping>(fds)
                {
                    new(statusRemote.Fd, BwrapFds.Status),
                    new(blockRemote.Fd, BwrapFds.Block),
                };
                var pid = NativeSpawn.Spawn(argv[0], argv, envp, all, newSession: false);
                PidfdHandle pidfd;
                try
                {
                    pidfd = PidfdHandle.Open(pid);
                }
                catch
                {
                    Libc.Kill(pid, Libc.SIGKILL);
                    ReapBlocking(pid);
                    throw;
                }
                // While unreaped, the pid's /proc entry is ours to read (a zombie keeps it): read it before the
                // watcher, which may reap at once, is started.
                var startTime = ProcStat.Read(pid)?.StartTime ?? 0;
                return new BwrapProcess(pid, startTime, pidfd, status, block);
            }
        }
        catch
        {
            status.Dispose();
            block.Dispose();
            throw;
        }
    }

    /// <summary>The host pid of the sandbox's init, from bwrap's first status line.</summary>
    public async Task<int> ReadChildPidAsync(CancellationToken cancellationToken)
    {
        var line = await ReadStatusLineAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new SandboxException(SandboxErrorCode.Internal, "bwrap exited before reporting the sandbox's pid");
        if (ParseStatus(line, "child-pid") is not { } value || value <= 0)
            throw new SandboxException(SandboxErrorCode.Internal, $"bwrap reported no child pid: {line}");
        return value;
    }

    /// <summary>Lets the held sandbox go on to exec its command.</summary>
    public void Release()
    {
        _block!.Send("x"u8);
        _block.Dispose();
    }

    /// <summary>Waits for bwrap to finish: its reported exit code when it gave one, else its own wait status.</summary>
    /// <summary>An attached bwrap is not our child: its real status went to its parent, and 128 + SIGKILL is
    /// reported.</summary>
    public async Task<int> WaitForExitAsync(CancellationToken cancellationToken)
    {
        if (IsAttached)
            return (await Exited.WaitAsync(cancellationToken).ConfigureAwait(false)).Status ?? 128 + Libc.SIGKILL;
        int? reported = null;
        while (await ReadStatusLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
            reported = ParseStatus(line, "exit-code") ?? reported;
        // The status socket closed: bwrap is exiting or gone, and the watcher reaps it.
        var exit = await Exited.ConfigureAwait(false);
        return reported ?? exit.Status ?? 0;
    }

    /// <summary>SIGKILL to bwrap itself; with --die-with-parent its sandbox follows (the cgroup kill is the real net).</summary>
    public void Kill() => Signal(Libc.SIGKILL);

    /// <summary>Sends <paramref name="signal"/> to bwrap; false when it has already exited.</summary>
    public bool Signal(int signal) => Volatile.Read(ref _disposed) == 0 && _pidfd.Signal(signal);

    /// <summary>One field of a status line; null when absent or when the line is cut short (bwrap killed mid-write).</summary>
    private static int? ParseStatus(string line, string field)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            return doc.RootElement.TryGetProperty(field, out var value) && value.TryGetInt32(out var number) ? number : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private async Task<string?> ReadStatusLineAsync(CancellationToken cancellationToken)
    {
        var line = await _statusReader!.ReadLineAsync(cancellationToken).ConfigureAwait(false);
        if (line is { Length: > MaxStatusLine })
            throw new SandboxException(SandboxErrorCode.Internal, "bwrap status line too long");
        return line;
    }

    private static unsafe void ReapBlocking(int pid)
    {
        Libc.SigInfoChild info;
        while (Libc.WaitId(Libc.P_PID, pid, &info, Libc.WEXITED) != 0 && Errno.Last == Errno.EINTR) { }
    }

    /// <summary>Lets go of an attached bwrap without touching it (closes the pidfd only).</summary>
    public void Forget()
    {
        Interlocked.Exchange(ref _disposed, 1);
        _pidfd.Dispose();
    }

    /// <summary>Kills bwrap if it is still there and waits (bounded) until it is gone (reaped, when our child); never
    /// throws. One stuck past the bound stays with the watcher, which reaps it when it dies: never a zombie.</summary>
    public async ValueTask DisposeAsync()
    {
        Kill();
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        try
        {
            await Exited.WaitAsync(s_reapTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
        _statusReader?.Dispose();
        _status?.Dispose();
        _block?.Dispose();
        _pidfd.Dispose();
    }
}
