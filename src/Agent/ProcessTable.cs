using System.Runtime.InteropServices;
using Sandbox.Agent.Interop;
using Sandbox.AgentProtocol.V1;
using Sandbox.Ttrpc;

namespace Sandbox.Agent;

/// <summary>
/// Spawns processes with posix_spawn (never fork from managed code) and reaps them on one dedicated thread.
/// Spawn and reap take the same lock, so a pid is registered before its exit can be matched, and Signal never hits a
/// pid that was reaped (and possibly reused) behind its back.
/// </summary>
internal sealed unsafe partial class ProcessTable : IDisposable
{
    public const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    public const int MaxExecs = 4096;
    private const int PruneAbove = 256;

    private readonly Lock _lock = new();
    private readonly Dictionary<int, ExecState> _live = [];
    private readonly Dictionary<string, ExecState> _byId = new(StringComparer.Ordinal);
    private readonly AutoResetEvent _childSpawned = new(false);
    private readonly IoLoop _io;
    private readonly bool _reapAll;
    private readonly SpawnConfinement? _confinement;
    private readonly Thread _reaper;
    private volatile bool _stopping;

    /// <param name="reapAll">
    /// true (the agent process): reap every child, including orphans reparented to us as PID 1 (waitid P_ALL).
    /// false (the agent's service hosted inside another .NET process, e.g. tests): reap only our own pids, so the
    /// host's System.Diagnostics.Process children are left alone.
    /// </param>
    /// <param name="confinement">microVM guest: the workload cgroup and identity every child is born with.</param>
    /// <summary>RLIMIT_NPROC given to every process the agent starts (0 = inherit).</summary>
    public int NprocLimit { get; init; }

    /// <summary>Tasks of the workload's uid that are not the workload's: the agent's threads now. (bwrap's outer
    /// process is charged to the parent user namespace's count, not this one's.)</summary>
    private static int OwnTasks()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("Threads:", StringComparison.Ordinal) && int.TryParse(line.AsSpan(8).Trim(), out var threads))
                return threads;
        return 0;
    }

    public ProcessTable(IoLoop io, bool reapAll, SpawnConfinement? confinement = null)
    {
        _io = io;
        _reapAll = reapAll;
        _confinement = confinement;
        _reaper = new Thread(reapAll ? ReapAllLoop : ReapOwnLoop) { IsBackground = true, Name = "agent-reaper" };
        _reaper.Start();
    }

    public int LiveCount
    {
        get { lock (_lock) return _live.Count; }
    }

    public ExecState Get(string execId)
    {
        lock (_lock)
        {
            return _byId.TryGetValue(execId, out var e) ? e : throw new TtrpcException(StatusCode.NotFound, $"exec {execId}: not found");
        }
    }

    /// <param name="user">The ids the process runs as (<see cref="ExecUser.Resolve"/>); ignored without a confinement.</param>
    /// <param name="container">A pod's second container in a microVM guest: the process is born in it (its
    /// namespaces, cgroup, user and filter) instead of the guest's root.</param>
    public ExecState Spawn(ExecRequest request, string executable, WorkloadUser user, SpawnConfinement? container = null)
    {
        var confinement = container ?? _confinement;
        var argv = request.Argv.ToArray();
        var envp = request.Env.Select(e => e.Name + "=" + e.Value).ToArray();
        string cwd = request.Cwd.Length == 0 ? "/" : request.Cwd;

        int* outPipe = stackalloc int[2] { -1, -1 };
        int* errPipe = stackalloc int[2] { -1, -1 };
        int* inPipe = stackalloc int[2] { -1, -1 };
        int* holdPipe = stackalloc int[2] { -1, -1 };
        Terminal? terminal = null;
        bool tty = request.Tty is not null;
        var held = request.Hold ? confinement as ContainerConfinement
            ?? throw new TtrpcException(StatusCode.FailedPrecondition, "hold needs a container agent with a workload user of its own (--workload-user)")
            : null;
        try
        {
            // With a terminal, stdout and stdin are descriptors of its master (stdin only when asked for) and stderr a
            // pipe the child never gets (its stream ends at once): the child's 0, 1 and 2 are the slave.
            if (!tty) MakePipe(outPipe, parentEnd: 0);
            MakePipe(errPipe, parentEnd: 0);
            if (request.Stdin && !tty) MakePipe(inPipe, parentEnd: 1);
            if (held is not null) MakePipe(holdPipe, parentEnd: 1);

            lock (_lock)
            {
                EnsureRoomFor(request.ExecId);

                long oomBaseline = confinement?.OomKillCount() ?? 0;
                int stdinFd = request.Stdin ? inPipe[0] : -1, stdoutFd = outPipe[1], stderrFd = errPipe[1];
                var ttySize = request.Tty;
                // Opened in the child's identity (the confinement's thread; in a guest, the workload's file-system
                // ids): the terminal's slave belongs to the workload.
                (int Rc, int Pid, Terminal? Terminal) Start(GuestBirth? birth)
                {
                    var opened = ttySize is null ? null
                        : birth is null ? Terminal.Open(ttySize.Rows, ttySize.Cols) : confinement!.AsUser(user, () => Terminal.Open(ttySize.Rows, ttySize.Cols));
                    try
                    {
                        int childPid;
                        int result = SpawnNative(executable, argv, envp, cwd, stdinFd, stdoutFd, stderrFd, opened?.SlavePath, &childPid, birth: birth);
                        return (result, childPid, opened);
                    }
                    catch
                    {
                        opened?.Dispose();
                        throw;
                    }
                }
                // Held (container): the agent's own binary starts with the agent's identity, waits for Release, then
                // becomes the workload and execs (HeldExec). Its terminal slave is opened here in the workload's
                // file-system identity, without becoming the agent's controlling terminal.
                (int Rc, int Pid, Terminal? Terminal) StartHeld()
                {
                    var opened = ttySize is null ? null : held!.AsUser(user, () => Terminal.Open(ttySize.Rows, ttySize.Cols));
                    int slave = -1;
                    try
                    {
                        if (opened is not null) slave = held!.AsUser(user, opened.OpenSlave);
                        var (path, command) = held!.HeldCommand(executable, argv, cwd, opened is not null, NprocLimit, user);
                        int childPid;
                        int result = SpawnNative(path, command, envp, "/", stdinFd, stdoutFd, stderrFd, null, &childPid, slave, holdPipe[0]);
                        return (result, childPid, opened);
                    }
                    catch
                    {
                        opened?.Dispose();
                        throw;
                    }
                    finally
                    {
                        if (slave >= 0) Libc.close(slave);
                    }
                }
                var (rc, pid, opened) = held is not null ? StartHeld() : confinement is null ? Start(null) : confinement.Spawn(Start, user);
                if (opened is not null)
                {
                    terminal = opened;
                    outPipe[0] = terminal.TakeOutputFd();
                    if (request.Stdin) inPipe[1] = terminal.TakeInputFd();
                }
                if (rc == 0 && NprocLimit > 0 && held is null)
                {
                    // The workload's own task limit, below the sandbox cgroup's pids.max: the agent shares that cgroup
                    // and must keep room for its threads when the workload forks as much as it may. The agent's own
                    // RLIMIT_NPROC stays unlimited. (Set just after exec starts: a program forks later than that.)
                    // NPROC counts every task of the uid in the sandbox's user namespace: where the agent shares the
                    // workload's uid (no confinement), its threads come on top, so `--pids N` leaves the workload N.
                    var shared = confinement?.SharesUidWithWorkload ?? true;
                    var nproc = (ulong)(NprocLimit + (shared ? OwnTasks() : 0));
                    var limit = new Libc.RLimit { Current = nproc, Max = nproc };
                    Libc.prlimit(pid, Libc.RLIMIT_NPROC, &limit, null);
                }
                if (rc != 0)
                {
                    var code = rc switch
                    {
                        Errno.ENOENT or Errno.ENOTDIR => StatusCode.NotFound,
                        Errno.EACCES or Errno.EPERM => StatusCode.PermissionDenied,
                        Errno.EAGAIN or Errno.ENOMEM or Errno.EMFILE or Errno.E2BIG => StatusCode.ResourceExhausted,
                        _ => StatusCode.FailedPrecondition,
                    };
                    throw new TtrpcException(code, $"exec {argv[0]}: {Errno.Name(rc)}");
                }
                // The child has its copies now; close ours.
                CloseFd(ref outPipe[1]);
                CloseFd(ref errPipe[1]);
                CloseFd(ref inPipe[0]);

                var stdout = new OutputPipe(outPipe[0], _io);
                var stderr = new OutputPipe(errPipe[0], _io);
                var stdin = request.Stdin ? new StdinPipe(inPipe[1], _io) : null;
                outPipe[0] = errPipe[0] = inPipe[1] = -1; // owned by the pipes now
                CloseFd(ref holdPipe[0]);
                var exec = new ExecState(request.ExecId, pid, stdout, stderr, stdin)
                {
                    OomBaseline = oomBaseline, Confinement = confinement, Terminal = terminal, HoldFd = holdPipe[1],
                };
                holdPipe[1] = -1; // owned by the exec now
                terminal = null; // owned by the exec now
                return Track(exec);
            }
        }
        finally
        {
            terminal?.Dispose();
            for (int i = 0; i < 2; i++)
            {
                CloseFd(ref outPipe[i]);
                CloseFd(ref errPipe[i]);
                CloseFd(ref inPipe[i]);
                CloseFd(ref holdPipe[i]);
            }
        }
    }

    private static void MakePipe(int* fds, int parentEnd)
    {
        if (Libc.pipe2(fds, Libc.O_CLOEXEC) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new TtrpcException(StatusCode.ResourceExhausted, "pipe2: " + Errno.Name(errno));
        }
        int flags = Libc.fcntl(fds[parentEnd], Libc.F_GETFL, 0);
        Libc.fcntl(fds[parentEnd], Libc.F_SETFL, flags | Libc.O_NONBLOCK);
    }

    private static void CloseFd(ref int fd)
    {
        if (fd >= 0) Libc.close(fd);
        fd = -1;
    }

    /// <returns>0 or an errno value.</returns>
    /// <param name="ttyPath">The pty slave to open as 0, 1 and 2 (the controlling terminal); null: the given descriptors.</param>
    /// <param name="ttyFd">An open terminal slave to use as 0, 1 and 2 instead (a held exec takes it as its controlling
    /// terminal itself); -1: none.</param>
    /// <param name="holdFd">Given to the child as descriptor 3 (a held exec's go); -1: none.</param>
    /// <param name="birth">A microVM guest's workload process: started by <see cref="GuestSpawn"/> instead, which
    /// takes the same descriptors, terminal and working directory (neither ttyFd nor holdFd).</param>
    private static int SpawnNative(string path, string[] argv, string[] envp, string cwd, int stdinFd, int stdoutFd, int stderrFd, string? ttyPath, int* pid,
        int ttyFd = -1, int holdFd = -1, GuestBirth? birth = null)
    {
        using var strings = new NativeStrings();
        if (birth is not null)
        {
            return GuestSpawn.Run(birth, strings.Add(path), strings.AddArray(argv), strings.AddArray(envp), strings.Add(cwd),
                ttyPath is null ? null : strings.Add(ttyPath), stdinFd, stdoutFd, stderrFd, pid);
        }
        byte* fileActions = stackalloc byte[Libc.FileActionsSize];
        byte* attr = stackalloc byte[Libc.SpawnAttrSize];
        byte* sigmask = stackalloc byte[Libc.SigSetSize];
        byte* sigdef = stackalloc byte[Libc.SigSetSize];
        int rc = Libc.posix_spawn_file_actions_init(fileActions);
        if (rc != 0) return rc;
        try
        {
            rc = Libc.posix_spawnattr_init(attr);
            if (rc != 0) return rc;
            try
            {
                if (ttyPath is not null)
                {
                    // Without O_NOCTTY, by a session leader with no terminal yet: it becomes the controlling terminal.
                    rc = Libc.posix_spawn_file_actions_addopen(fileActions, 0, strings.Add(ttyPath), Libc.O_RDWR, 0);
                    if (rc == 0) rc = Libc.posix_spawn_file_actions_adddup2(fileActions, 0, 1);
                    if (rc == 0) rc = Libc.posix_spawn_file_actions_adddup2(fileActions, 0, 2);
                }
                else if (ttyFd >= 0)
                {
                    rc = Libc.posix_spawn_file_actions_adddup2(fileActions, ttyFd, 0);
                    if (rc == 0) rc = Libc.posix_spawn_file_actions_adddup2(fileActions, ttyFd, 1);
                    if (rc == 0) rc = Libc.posix_spawn_file_actions_adddup2(fileActions, ttyFd, 2);
                }
                else
                {
                    if (stdinFd >= 0) rc = Libc.posix_spawn_file_actions_adddup2(fileActions, stdinFd, 0);
                    else rc = Libc.posix_spawn_file_actions_addopen(fileActions, 0, strings.Add("/dev/null"), Libc.O_RDONLY, 0);
                    if (rc == 0) rc = Libc.posix_spawn_file_actions_adddup2(fileActions, stdoutFd, 1);
                    if (rc == 0) rc = Libc.posix_spawn_file_actions_adddup2(fileActions, stderrFd, 2);
                }
                // The pipes were made after the agent's own 0, 1 and 2, so holdFd is never 3 itself (dup2 onto itself
                // would leave it close-on-exec).
                if (rc == 0 && holdFd >= 0) rc = holdFd == 3 ? Errno.EBADF : Libc.posix_spawn_file_actions_adddup2(fileActions, holdFd, 3);
                if (rc == 0) rc = Libc.posix_spawn_file_actions_addchdir_np(fileActions, strings.Add(cwd));
                if (rc != 0) return rc;

                Libc.sigemptyset(sigmask);
                Libc.sigfillset(sigdef);
                rc = Libc.posix_spawnattr_setsigmask(attr, sigmask);
                if (rc == 0) rc = Libc.posix_spawnattr_setsigdefault(attr, sigdef);
                if (rc == 0) rc = Libc.posix_spawnattr_setflags(attr,
                    (short)(Libc.POSIX_SPAWN_SETSID | Libc.POSIX_SPAWN_SETSIGMASK | Libc.POSIX_SPAWN_SETSIGDEF));
                if (rc != 0) return rc;

                return Libc.posix_spawn(pid, strings.Add(path), fileActions, attr, strings.AddArray(argv), strings.AddArray(envp));
            }
            finally
            {
                Libc.posix_spawnattr_destroy(attr);
            }
        }
        finally
        {
            Libc.posix_spawn_file_actions_destroy(fileActions);
        }
    }

    /// <summary>Drops execs that are reaped and fully drained (their ids become unknown). Caller holds the lock.</summary>
    private void Prune()
    {
        foreach (var (id, exec) in _byId.ToArray())
        {
            if (!exec.Finished) continue;
            _byId.Remove(id);
            exec.Stdin?.RequestClose();
        }
    }

    /// <summary>kill(-pgid) (the exec is a session and group leader), then the pid itself. An exited exec is a no-op.</summary>
    public void Signal(string execId, int signal)
    {
        lock (_lock)
        {
            var exec = _byId.TryGetValue(execId, out var e) ? e : throw new TtrpcException(StatusCode.NotFound, $"exec {execId}: not found");
            if (exec.HasExited) return;
            if (Libc.kill(-exec.Pid, signal) == 0) return;
            int errno = Marshal.GetLastPInvokeError();
            if (errno == Errno.ESRCH)
            {
                if (Libc.kill(exec.Pid, signal) == 0) return;
                errno = Marshal.GetLastPInvokeError();
                if (errno == Errno.ESRCH) return;
            }
            throw new TtrpcException(errno == Errno.EPERM ? StatusCode.PermissionDenied : StatusCode.Internal, $"kill {exec.Pid}: {Errno.Name(errno)}");
        }
    }

    /// <summary>Lets a held exec run its program (the host has placed it).</summary>
    public void Release(string execId)
    {
        lock (_lock)
        {
            var exec = _byId.TryGetValue(execId, out var e) ? e : throw new TtrpcException(StatusCode.NotFound, $"exec {execId}: not found");
            if (!exec.TryRelease()) throw new TtrpcException(StatusCode.FailedPrecondition, $"exec {execId} is not held");
        }
    }

    /// <summary>Sets the window size of an exec's terminal; a no-op once it was reaped.</summary>
    public void Resize(string execId, uint rows, uint cols)
    {
        lock (_lock)
        {
            var exec = _byId.TryGetValue(execId, out var e) ? e : throw new TtrpcException(StatusCode.NotFound, $"exec {execId}: not found");
            if (exec.Terminal is null) throw new TtrpcException(StatusCode.FailedPrecondition, $"exec {execId} has no terminal");
            exec.Terminal.Resize(rows, cols);
        }
    }

    /// <summary>SIGKILL every live process group.</summary>
    public int KillAll()
    {
        lock (_lock)
        {
            foreach (var pid in _live.Keys.Concat(_prepared.Values.Select(p => p.Pid)))
            {
                Libc.kill(-pid, Libc.SIGKILL);
                Libc.kill(pid, Libc.SIGKILL);
            }
            return _live.Count;
        }
    }

    private void ReapAllLoop()
    {
        byte* info = stackalloc byte[Libc.SigInfoSize];
        while (!_stopping)
        {
            new Span<byte>(info, Libc.SigInfoSize).Clear();
            // Peek (WNOWAIT) so the zombie keeps its pid until we reap it under the lock.
            if (Libc.waitid(Libc.P_ALL, 0, info, Libc.WEXITED | Libc.WNOWAIT) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == Errno.EINTR) continue;
                if (errno == Errno.ECHILD)
                {
                    _childSpawned.WaitOne();
                    continue;
                }
                AgentLog.Info("waitid failed: " + Errno.Name(errno));
                Thread.Sleep(100);
                continue;
            }
            int pid = *(int*)(info + Libc.SigInfoPidOffset);
            if (pid <= 0) continue;
            lock (_lock) ReapLocked(pid, Libc.WNOHANG);
        }
    }

    private void ReapOwnLoop()
    {
        int delay = 1;
        while (!_stopping)
        {
            bool reaped = false;
            lock (_lock)
            {
                foreach (var pid in _live.Keys.Concat(_prepared.Values.Select(p => p.Pid)).ToArray()) reaped |= ReapLocked(pid, Libc.WNOHANG);
            }
            delay = reaped ? 1 : Math.Min(delay * 2, 50);
            if (_childSpawned.WaitOne(delay)) delay = 1;
        }
    }

    /// <returns>true when pid was reaped. Caller holds the lock.</returns>
    private bool ReapLocked(int pid, int options)
    {
        int status;
        Libc.RUsage usage;
        int r = Libc.wait4(pid, &status, options, &usage);
        if (r != pid) return false;
        if (!_live.ContainsKey(pid))
        {
            // A prepared first stage that ended before its exec came (killed with the host's cgroup kill).
            foreach (var (id, prepared) in _prepared)
            {
                if (prepared.Pid != pid) continue;
                prepared.CloseAll();
                _prepared.Remove(id);
                break;
            }
        }
        if (_live.Remove(pid, out var exec))
        {
            bool oomKilled = (status & 0x7f) == Libc.SIGKILL && exec.Confinement is not null && exec.Confinement.OomKillCount() > exec.OomBaseline;
            exec.Complete(status, usage, oomKilled);
        }
        return true;
    }

    /// <summary>Refuses an exec id in use and a full table (after pruning what was waited and drained). Under
    /// <c>_lock</c>.</summary>
    private void EnsureRoomFor(string execId)
    {
        if (_byId.ContainsKey(execId))
            throw new TtrpcException(StatusCode.AlreadyExists, $"exec {execId}: already exists");
        if (_byId.Count >= PruneAbove) Prune();
        if (_byId.Count >= MaxExecs)
            throw new TtrpcException(StatusCode.ResourceExhausted, $"too many execs ({MaxExecs}) not yet waited and drained");
    }

    /// <summary>A started exec joins the table: found by pid (the reaper) and id (the API), its pipes in the IO loop.
    /// Called under <c>_lock</c>.</summary>
    private ExecState Track(ExecState exec)
    {
        _live[exec.Pid] = exec;
        _byId[exec.Id] = exec;
        _io.Add(exec.Stdout);
        _io.Add(exec.Stderr);
        if (exec.Stdin is not null) _io.Add(exec.Stdin);
        _childSpawned.Set();
        return exec;
    }

    public void Dispose()
    {
        _stopping = true;
        _childSpawned.Set();
    }
}
