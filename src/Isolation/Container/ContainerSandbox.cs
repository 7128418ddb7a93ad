using System.Net.Sockets;
using Sandbox.AgentProtocol.V1;
using Sandbox.Isolation.Agent;
using Sandbox.Isolation.IO;

namespace Sandbox.Isolation.Container;

/// <summary>A long-lived container: bwrap runs the agent, which execs processes and serves files on request over a
/// socket pair — or, for a sandbox that outlives its owner, over a connection to the agent's listening socket, which a
/// restarted owner can make again (<see cref="BubblewrapDriver.AttachAsync"/>). Everything the agent answers is checked
/// by <see cref="AgentClient"/>; limits are the cgroup's.</summary>
internal sealed class ContainerSandbox : ISandbox, ISharedNetworkNamespace, IWarmUp, IPreparesExecs
{
    private readonly ContainerInstance _instance;
    private readonly AgentClient _agent;
    private readonly Socket _agentSocket;
    private readonly SandboxSpec _spec;
    private readonly CancellationTokenSource _disposing = new();
    private readonly TaskCompletionSource<SandboxTermination> _terminated = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The limits now in force (UpdateLimitsAsync changes them); the spec keeps the ones it was created with.</summary>
    private ResourceLimits _limits;
    private long _execCounter;
    private int _disposed;

    private readonly Socket? _stderr;

    private readonly TailBuffer _stderrTail;

    /// <summary>The host path of the agent's listening socket (sandboxes that outlive their owner), else null.</summary>
    private readonly string? _agentSocketPath;

    /// <summary>Exec ids must not repeat within the agent's life, which may span several owners (re-attach).</summary>
    private readonly string _execPrefix = "e" + Convert.ToHexStringLower(KernelRandom.GetBytes(4)) + "-";

    /// <param name="stderr">The agent's stderr (null after a re-attach: it went to the owner that started it).</param>
    public ContainerSandbox(ContainerInstance instance, AgentClient agent, Socket agentSocket, SandboxSpec spec, Socket? stderr, TailBuffer stderrTail,
        TimeSpan callDeadline, string? agentSocketPath = null)
    {
        _agentSocketPath = agentSocketPath;
        _stderrTail = stderrTail;
        _stderr = stderr;
        _instance = instance;
        _agent = agent;
        _agentSocket = agentSocket;
        _spec = spec;
        // A silent or lost agent breaks the sandbox: the cgroup kill ends everything it was supervising.
        _channel = new AgentChannel(agent, instance.Info.Id, () => _instance.Cgroup.KillAllAsync(CancellationToken.None), stderrTail.ToString, callDeadline);
        _limits = spec.Limits;
        _ = WatchAsync();
        _execs = new PreparedExecs(instance, channel: _channel, NextExecId, _disposing.Token);
        _execs.PrepareNext();
    }

    private readonly PreparedExecs _execs;

    private string NextExecId() => _execPrefix + Interlocked.Increment(ref _execCounter);

    /// <summary>A pool's sandbox waits with its first exec's first stage started and placed (<see cref="PreparedExecs"/>).</summary>
    public Task WarmUpAsync(CancellationToken cancellationToken) => _execs.ReadyAsync(cancellationToken);

    public void StopPreparing() => _execs.Stop();

    /// <summary>bwrap's exit is the sandbox's death: its init is bwrap's child, and the agent is the command bwrap runs.</summary>
    private async Task WatchAsync()
    {
        var exit = await _instance.Bwrap.Exited.ConfigureAwait(false);
        var tail = _stderrTail.ToString();
        _terminated.TrySetResult(new SandboxTermination(SandboxTerminationReason.ProcessExited, exit.Status,
            $"bwrap exited ({exit}){(tail.Length > 0 ? "; agent stderr: " + tail : "")}"));
    }

    private readonly AgentChannel _channel;

    public SandboxInfo Info => _instance.Info with { Limits = Volatile.Read(ref _limits) };

    internal ContainerInstance Instance => _instance;

    /// <summary>The namespace of the sandbox's init (the agent, PID 1 inside), opened by the host. Checked alive before
    /// and after the open: a pid of a sandbox already gone could name another process by then.</summary>
    public System.Runtime.InteropServices.SafeHandle OpenNetworkNamespace()
    {
        var path = $"/proc/{_instance.InitPid}/ns/net";
        if (_instance.Bwrap.Exited.IsCompleted)
            throw new SandboxException(SandboxErrorCode.FailedPrecondition, $"sandbox {_instance.Info.Id} has ended: its network cannot be joined");
        var fd = Interop.Libc.Open(path, Interop.Libc.O_RDONLY | Interop.Libc.O_CLOEXEC);
        if (fd < 0)
            throw Interop.Errno.Fail($"open({path})");
        var handle = new Native.FileDescriptor(fd);
        if (_instance.Bwrap.Exited.IsCompleted)
        {
            handle.Dispose();
            throw new SandboxException(SandboxErrorCode.FailedPrecondition, $"sandbox {_instance.Info.Id} has ended: its network cannot be joined");
        }
        return handle;
    }

    public SandboxAttachment? Attachment => _agentSocketPath is null ? null : new ContainerAttachment
    {
        BwrapPid = _instance.Bwrap.Pid,
        BwrapStartTime = _instance.Bwrap.StartTime,
        InitPid = _instance.InitPid,
        UidRangeBase = _instance.Ids.Range.HostBase,
        User = _instance.Ids.User,
        AgentSocket = _agentSocketPath,
        Limits = _limits,
        Env = _spec.Env,
        WorkDir = _spec.WorkDir,
        Hostname = _spec.Hostname,
        SyscallProfile = _spec.SyscallProfile,
        SeccompDigest = _instance.Info.SeccompDigest,
        CgroupPath = _instance.Info.CgroupPath,
    }.ToAttachment();

    public async Task<ISandboxProcess> ExecAsync(ProcessSpec spec, ProcessIO io, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        SpecValidator.Validate(spec);
        var env = DefaultEnvironment.For(_spec, spec);
        var request = new ExecRequest
        {
            Cwd = spec.WorkingDirectory ?? _spec.WorkDir,
            Stdin = io.Stdin is not null,
            Tty = spec.Tty is { } tty ? new TtySize { Rows = (uint)tty.Rows, Cols = (uint)tty.Cols } : null,
            User = spec.User ?? "",
        };
        request.Argv.AddRange(spec.Argv);
        request.Env.AddRange(env.Select(kv => new EnvVar { Name = kv.Key, Value = kv.Value }));
        // The exec's first stage started ahead, already in a cgroup of its own (PreparedExecs): one agent call, and the
        // program runs. Else it is started now, held until the host has placed it.
        if (await _execs.TakeAsync(request, cancellationToken).ConfigureAwait(false) is { } prepared)
        {
            request.ExecId = prepared.ExecId;
            request.Prepared = true;
            var limits = Volatile.Read(ref _limits);
            var timeout = spec.Timeout ?? limits.WallTime;
            // One call for a short exec: the agent answers with its end and output.
            var startedAt = AgentProcess.AskForEnd(request, spec, io, timeout, limits.OutputBytes);
            ExecResponse started;
            try
            {
                started = await _channel.CallAsync("Exec", (c, t) => c.ExecAsync(request, t), cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                // Refused (a missing program) or lost, or the caller gave up while the agent waited for the end: what
                // ran there goes with its cgroup.
                await PreparedExecs.DiscardAsync(prepared.Cgroup).ConfigureAwait(false);
                _execs.PrepareNext();
                throw;
            }
            return Supervise(request.ExecId, started, startedAt, prepared.Cgroup, spec, io);
        }
        request.ExecId = NextExecId();
        // Each exec gets a cgroup of its own, made and filled by the host: the agent starts the process held, the host
        // moves it there and only then lets it run (ExecPlacement), so the exec's time limit, kill and OOM attribution
        // are the host's whatever the agent does later.
        request.Hold = true;
        var execCgroup = _instance.Cgroup.CreateChild(request.ExecId, tasksOnly: true);
        ExecResponse response;
        try
        {
            response = await _channel.CallAsync("Exec", (c, t) => c.ExecAsync(request, t), cancellationToken).ConfigureAwait(false);
            try
            {
                ExecPlacement.Place(_instance, response.Pid, execCgroup);
                await _channel.CallAsync("Release", (c, t) => c.ReleaseAsync(request.ExecId, t), cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await execCgroup.KillAllAsync(CancellationToken.None).ConfigureAwait(false);
                // Not placed: the held first stage is still in the agent's cgroup; the agent ends it (best effort: a
                // broken sandbox is killed whole anyway).
                try
                {
                    await _channel.CallAsync("Signal", (c, t) => c.SignalAsync(request.ExecId, ExitStatusMapper.SIGKILL, t), CancellationToken.None).ConfigureAwait(false);
                }
                catch (SandboxException)
                {
                }
                throw;
            }
        }
        catch
        {
            await execCgroup.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return Supervise(request.ExecId, response, System.Diagnostics.Stopwatch.GetTimestamp(), execCgroup, spec, io);
    }

    /// <summary>The running exec, supervised from the host; once it has ended its cgroup goes (when empty) and the next
    /// exec's first stage is prepared, off this exec's path.</summary>
    private AgentProcess Supervise(string execId, ExecResponse started, long startedAt, Cgroups.ICgroup execCgroup, ProcessSpec spec, ProcessIO io)
    {
        var limits = Volatile.Read(ref _limits);
        return AgentProcess.Start(_channel, execId, started, startedAt, spec.Timeout ?? limits.WallTime, limits.OutputBytes,
            io, () => execCgroup.OomKillCount() > 0, _disposing.Token,
            hostKill: () => execCgroup.KillAllAsync(CancellationToken.None),
            // What the exec left running (started in the background) stays in its cgroup until the sandbox goes.
            ended: () =>
            {
                execCgroup.TryRemoveEmpty();
                _execs.PrepareNext();
            });
    }

    public Task<byte[]> ReadFileAsync(string path, long maxBytes, CancellationToken cancellationToken) =>
        AgentFiles.ReadAsync(_channel, path, maxBytes, cancellationToken);

    public Task WriteFileAsync(string path, ReadOnlyMemory<byte> content, int mode, CancellationToken cancellationToken) =>
        AgentFiles.WriteAsync(_channel, path, content, mode, cancellationToken);

    public Task<SandboxFileListing> ListFilesAsync(string path, int maxEntries, CancellationToken cancellationToken) =>
        AgentFiles.ListAsync(_channel, path, maxEntries, cancellationToken);

    public Task<long> ReadFileToAsync(string path, Stream destination, long maxBytes, CancellationToken cancellationToken) =>
        AgentFiles.ReadToAsync(_channel, path, destination, maxBytes, cancellationToken);

    public Task<long> WriteFileFromAsync(string path, Stream source, int mode, CancellationToken cancellationToken) =>
        AgentFiles.WriteFromAsync(_channel, path, source, mode, cancellationToken);

    public Task ExportDirectoryAsync(string path, Stream tarDestination, CancellationToken cancellationToken) =>
        AgentTar.ExportAsync(_channel, path, tarDestination, cancellationToken);

    public Task ImportDirectoryAsync(string path, Stream tarSource, CancellationToken cancellationToken) =>
        AgentTar.ImportAsync(_channel, path, tarSource, cancellationToken);

    public Task<SandboxStats> GetStatsAsync(CancellationToken cancellationToken) => Task.FromResult(_instance.Cgroup.ReadStats());

    // ---- Lifecycle (the driver seam) ----

    public Task<SandboxTermination> Terminated => _terminated.Task;

    public Task SignalAsync(int signal, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        SignalNumbers.Check(signal);
        return _instance.Cgroup.SignalAllAsync(signal, cancellationToken);
    }

    /// <summary>The processes in the execs' sub-cgroups (what each exec started, and left running after it ended),
    /// not the agent's and not a first stage prepared ahead that no exec has taken (it runs nothing of the workload).
    /// A process that exits meanwhile is left out.</summary>
    public Task<IReadOnlyList<int>> ListWorkloadProcessesAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var inner = new List<int>();
        foreach (var pid in _instance.Cgroup.PidsBelow(IsWorkloadCgroup))
        {
            if (ExecPlacement.Read(pid) is { } status)
                inner.Add(status.InnerPid);
        }
        inner.Sort();
        return Task.FromResult<IReadOnlyList<int>>(inner);
    }

    public Task SignalWorkloadAsync(int signal, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        SignalNumbers.Check(signal);
        return _instance.Cgroup.SignalBelowAsync(signal, IsWorkloadCgroup, cancellationToken);
    }

    private bool IsWorkloadCgroup(string name) => name != ContainerLauncher.AgentCgroupName && !_execs.IsPending(name);

    public Task PauseAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _instance.Cgroup.FreezeAsync(cancellationToken);
    }

    public Task ResumeAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _instance.Cgroup.ThawAsync(cancellationToken);
    }

    /// <summary>Memory, cpu and pids go to the cgroup at once; wall time and output caps apply to later execs. The
    /// tmpfs sizes and rlimits were fixed when the sandbox started and cannot change; pids cannot rise above the
    /// value at creation (the agent gives every process RLIMIT_NPROC = that value).</summary>
    public Task UpdateLimitsAsync(ResourceLimits limits, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        SpecValidator.ValidateUpdate(_spec.Limits, limits, errors =>
        {
            if (limits.PidsMax > _spec.Limits.PidsMax)
                errors.Add($"limits.pids cannot rise above {_spec.Limits.PidsMax} (the value at creation) on a running container; asked {limits.PidsMax}");
        });
        _instance.Cgroup.UpdateLimits(limits with { PidsMax = ContainerLauncher.CgroupPidsMax(limits.PidsMax, commandIsInit: true, BubblewrapDriver.AgentPidsReserve) });
        Volatile.Write(ref _limits, limits);
        return Task.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _execs.Stop();
        _channel.Close();
        _terminated.TrySetResult(new SandboxTermination(SandboxTerminationReason.Disposed, null, "disposed by its owner"));
        await _disposing.CancelAsync().ConfigureAwait(false);
        // Before the cgroups go: an exec being prepared (its Prepare call cancelled now) may still be making its own.
        await _execs.StopAsync().ConfigureAwait(false);
        // A sandbox launched here is ended through its init's pidfd below (the agent is its PID 1: the kernel kills the
        // rest of its pid namespace): asking the agent to shut down first would only add a round trip and its own exit
        // work. One taken back after a restart has no such pidfd and is asked.
        if (_instance.InitPidfd is null)
        {
            try
            {
                using var shutdown = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
                await _agent.ShutdownAsync(shutdown.Token).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The agent is inside the boundary and may be dead or hostile; the cgroup kill below is what counts.
            }
        }
        await _agent.DisposeAsync().ConfigureAwait(false);
        _channel.Dispose();
        _agentSocket.Dispose();
        try
        {
            await _instance.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            if (_agentSocketPath is not null)
                File.Delete(_agentSocketPath);
            _stderr?.Dispose();
        }
        _disposing.Dispose();
    }
}
