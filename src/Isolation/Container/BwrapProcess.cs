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
    private readonly Socket _status;
    private readonly Socket _block;
    private readonly StreamReader _statusReader;
    private int _reaped;

    public int Pid { get; }

    private BwrapProcess(int pid, FileDescriptor pidfd, Socket status, Socket block)
    {
        Pid = pid;
        _pidfd = pidfd;
        _status = status;
        _block = block;
        _statusReader = new StreamReader(new NetworkStream(status, ownsSocket: false), Encoding.UTF8, false, 1024);
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
                return new BwrapProcess(pid, new FileDescriptor(pidfd), status, block);
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
        _block.Send("x"u8);
        _block.Dispose();
    }

    /// <summary>Waits for bwrap to finish: its reported exit code when it gave one, else its own wait status.</summary>
    public async Task<int> WaitForExitAsync(CancellationToken cancellationToken)
    {
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
        var line = await _statusReader.ReadLineAsync(cancellationToken).ConfigureAwait(false);
        if (line is { Length: > MaxStatusLine })
            throw new SandboxException(SandboxErrorCode.Internal, "bwrap status line too long");
        return line;
    }

    private unsafe int Reap()
    {
        if (Interlocked.Exchange(ref _reaped, 1) != 0)
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

    /// <summary>Kills and reaps bwrap if it is still there; never throws.</summary>
    public void Dispose()
    {
        if (Volatile.Read(ref _reaped) == 0)
        {
            Kill();
            Reap();
        }
        _statusReader.Dispose();
        _status.Dispose();
        _block.Dispose();
        _pidfd.Dispose();
    }
}
