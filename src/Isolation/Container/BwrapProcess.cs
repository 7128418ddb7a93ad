using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Sandbox.Isolation.Interop;
using Sandbox.Isolation.Native;

namespace Sandbox.Isolation.Container;

/// <summary>A running bwrap: its pid and pidfd, the status socket on which it reports the sandbox's init pid and
/// later the exit code, and the block socket that holds the sandbox before it runs anything until
/// <see cref="Release"/> (time to move it into its cgroup and set its rlimits).</summary>
internal sealed class BwrapProcess : IDisposable
{
    private const int MaxStatusLine = 4096;

    private readonly FileDescriptor _pidfd;
    private readonly Socket? _status;
    private readonly Socket? _block;
    private readonly StreamReader? _statusReader;
    private int _reaped;

    public int Pid { get; }

    /// <summary>Start time of the process (clock ticks after boot): with <see cref="Pid"/>, names it for good.</summary>
    public ulong StartTime { get; }

    /// <summary>Taken back by <see cref="Attach"/>: not our child (no status socket, not reaped here).</summary>
    public bool IsAttached => _status is null;

    private BwrapProcess(int pid, ulong startTime, FileDescriptor pidfd, Socket? status, Socket? block)
    {
        Pid = pid;
        StartTime = startTime;
        _pidfd = pidfd;
        _status = status;
        _block = block;
        _statusReader = status is null ? null : new StreamReader(new NetworkStream(status, ownsSocket: false), Encoding.UTF8, false, 1024);
    }

    /// <summary>A bwrap started by an earlier process (a daemon that was restarted): null unless <paramref name="pid"/>
    /// is still the very process that was started (same start time, not a zombie). Its exit is learned by polling a
    /// pidfd; its exit code is not known.</summary>
    public static BwrapProcess? Attach(int pid, ulong startTime)
    {
        if (pid <= 0 || ProcStat.Read(pid) is not { IsGone: false } before || before.StartTime != startTime)
            return null;
        var pidfd = Libc.PidfdOpen(pid, 0);
        if (pidfd < 0)
            return null;
        var fd = new FileDescriptor(pidfd);
        // The pidfd names whatever held the pid when it was opened: check again that it is still the same process.
        if (ProcStat.Read(pid) is not { IsGone: false } after || after.StartTime != startTime)
        {
            fd.Dispose();
            return null;
        }
        return new BwrapProcess(pid, startTime, fd, null, null);
    }

    /// <summary>Spawns bwrap (through setpriv when we are root) with the given descriptors in place.</summary>
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
                var pidfd = Libc.PidfdOpen(pid, 0);
                if (pidfd < 0)
                {
                    var err = Errno.Fail($"pidfd_open({pid})");
                    Libc.Kill(pid, Libc.SIGKILL);
                    ReapBlocking(pid);
                    throw err;
                }
                // While unreaped, the pid's /proc entry is ours to read (a zombie keeps it).
                var startTime = ProcStat.Read(pid)?.StartTime ?? 0;
                return new BwrapProcess(pid, startTime, new FileDescriptor(pidfd), status, block);
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
    public async Task<int> WaitForExitAsync(CancellationToken cancellationToken)
    {
        if (IsAttached)
            return await Task.Run(() => PollExit(cancellationToken), CancellationToken.None).ConfigureAwait(false);
        int? reported = null;
        while (await ReadStatusLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
            reported = ParseStatus(line, "exit-code") ?? reported;
        // The status socket closed: bwrap is exiting or gone; reap it (a short blocking wait at most).
        var status = await Task.Run(Reap, CancellationToken.None).ConfigureAwait(false);
        return reported ?? status;
    }

    /// <summary>SIGKILL to bwrap itself; with --die-with-parent its sandbox follows (the cgroup kill is the real net).</summary>
    public void Kill()
    {
        if (Volatile.Read(ref _reaped) == 0)
            Libc.PidfdSendSignal(_pidfd.Fd, Libc.SIGKILL, 0, 0);
    }

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

    /// <summary>An attached bwrap is not our child: its pidfd turns readable when it exits. 128 + SIGKILL is reported,
    /// since its real status went to its parent.</summary>
    private unsafe int PollExit(CancellationToken cancellationToken)
    {
        var pfd = new Libc.PollFd { Fd = _pidfd.Fd, Events = Libc.POLLIN };
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var n = Libc.Poll(&pfd, 1, 200);
            if (n > 0)
                return 128 + Libc.SIGKILL;
            if (n < 0 && Errno.Last != Errno.EINTR)
                return 128 + Libc.SIGKILL;
        }
    }

    private unsafe int Reap()
    {
        if (Interlocked.Exchange(ref _reaped, 1) != 0)
            return 0;
        if (IsAttached)
            return 0;
        Libc.SigInfoChild info;
        while (Libc.WaitId(Libc.P_PIDFD, _pidfd.Fd, &info, Libc.WEXITED) != 0)
        {
            if (Errno.Last != Errno.EINTR)
                return 0;
        }
        return info.Code == Libc.CLD_EXITED ? info.Status : 128 + info.Status;
    }

    private static unsafe void ReapBlocking(int pid)
    {
        Libc.SigInfoChild info;
        while (Libc.WaitId(Libc.P_PID, pid, &info, Libc.WEXITED) != 0 && Errno.Last == Errno.EINTR) { }
    }

    /// <summary>Lets go of an attached bwrap without touching it (closes the pidfd only).</summary>
    public void Forget()
    {
        Interlocked.Exchange(ref _reaped, 1);
        _pidfd.Dispose();
    }

    /// <summary>Kills and reaps bwrap if it is still there; never throws.</summary>
    public void Dispose()
    {
        if (Volatile.Read(ref _reaped) == 0)
        {
            Kill();
            Reap();
        }
        _statusReader?.Dispose();
        _status?.Dispose();
        _block?.Dispose();
        _pidfd.Dispose();
    }
}
