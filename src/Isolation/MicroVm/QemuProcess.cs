using Sandbox.Isolation.Cgroups;
using Sandbox.Isolation.Container;
using Sandbox.Isolation.Interop;
using Sandbox.Isolation.Native;

namespace Sandbox.Isolation.MicroVm;

/// <summary>A running QEMU: its host pid and pidfd (signals never hit a recycled pid). Started by this process, QEMU
/// runs in its jail (<see cref="VmmJail"/>) as PID 1 of the jail's pid namespace, under a bwrap that is our child and
/// exits with QEMU's status; its exit is learned from bwrap's, which <see cref="ProcessWatcher"/> reaps exactly once.
/// Taken back after a restart, QEMU's own pidfd is watched (not our child, never reaped here).</summary>
internal sealed class QemuProcess : IAsyncDisposable
{
    private static readonly TimeSpan s_reapTimeout = TimeSpan.FromSeconds(10);

    private readonly PidfdHandle _pidfd;
    private readonly BwrapProcess? _jail;
    private readonly Task<ProcessExit> _exit;
    private int _disposed;

    /// <summary>QEMU's host pid.</summary>
    public int Pid { get; }

    /// <summary>Start time (clock ticks after boot, /proc/PID/stat field 22): with <see cref="Pid"/>, names it for good.</summary>
    public ulong StartTime { get; }

    /// <summary>Taken back after a restart of its owner: not our child (observed, never reaped here).</summary>
    public bool IsAttached => _jail is null;

    private QemuProcess(int pid, ulong startTime, PidfdHandle pidfd, BwrapProcess? jail)
    {
        Pid = pid;
        StartTime = startTime;
        _pidfd = pidfd;
        _jail = jail;
        _exit = jail is null ? ProcessWatcher.WatchAsync(pidfd, reap: false) : JailExitAsync(jail);
    }

    private static async Task<ProcessExit> JailExitAsync(BwrapProcess jail)
    {
        try
        {
            return new ProcessExit(await jail.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false));
        }
        catch (Exception e) when (e is IOException or SandboxException or ObjectDisposedException)
        {
            return await jail.Exited.ConfigureAwait(false);
        }
    }

    /// <summary>Starts QEMU in its jail: bwrap waits for its options (<see cref="VmmJail.ToGatedArgv"/>) until it is in
    /// <paramref name="cgroup"/>, so the jail, cloned after, is born there with its cgroup namespace rooted there; bwrap
    /// then holds the jail on its block socket until the jail's init (QEMU-to-be) is placed too, so QEMU runs not one
    /// instruction outside its limits.</summary>
    public static async Task<QemuProcess> StartJailedAsync(VmmJail jail, IReadOnlyList<string> qemuArgv, IReadOnlyList<NativeSpawn.FdMapping> fds,
        ICgroup cgroup, CancellationToken cancellationToken)
    {
        var (options, argv) = jail.ToGatedArgv(qemuArgv);
        using var gate = BwrapOptionsGate.Create(options);
        Task<BwrapProcess> Spawn() => LauncherThreads.SpawnAsync(argv, ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], [.. fds, new(gate.Remote.Fd, BwrapFds.Args)]);
        var bwrap = await (jail.TransparentHugePages ? Spawn() : NoTransparentHugePages.AroundSpawnAsync(Spawn)).ConfigureAwait(false);
        PidfdHandle? pidfd = null;
        try
        {
            cgroup.AddProcess(bwrap.Pid);
            gate.Open();
            var pid = await bwrap.ReadChildPidAsync(cancellationToken).ConfigureAwait(false);
            cgroup.AddProcess(pid);
            pidfd = PidfdHandle.Open(pid);
            var startTime = ProcStat.Read(pid)?.StartTime ?? 0;
            bwrap.Release();
            return new QemuProcess(pid, startTime, pidfd, bwrap);
        }
        catch
        {
            pidfd?.Dispose();
            await cgroup.KillAllAsync(CancellationToken.None).ConfigureAwait(false);
            await bwrap.DisposeAsync().ConfigureAwait(false);
            throw;
        }
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
        return new QemuProcess(pid, startTime, pidfd, jail: null);
    }

    /// <summary>Completes with the exit status (128+signal when killed; null when not our child) once QEMU is gone.</summary>
    public Task<ProcessExit> Exited => _exit;

    public void Kill() => Signal(Libc.SIGKILL);

    /// <summary>Sends <paramref name="signal"/> to QEMU; false when it has already exited.</summary>
    public bool Signal(int signal) => !_exit.IsCompleted && _pidfd.Signal(signal);

    /// <summary>Lets go of QEMU without touching it (closes the pidfd only): a VM handed to another owner. Its jail's
    /// bwrap, when our child, stays with the process watcher, which reaps it when QEMU ends.</summary>
    public void Forget()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _pidfd.Dispose();
    }

    /// <summary>Kills QEMU if still there and waits (bounded) for it to be gone; never throws. A QEMU stuck in D state
    /// past the bound stays registered with the watcher, which reaps its jail when it finally dies: never a zombie.</summary>
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
        if (_jail is not null)
            await _jail.DisposeAsync().ConfigureAwait(false);
        _pidfd.Dispose();
    }
}
