using System.Net.Sockets;
using Sandbox.Isolation.Agent;
using Sandbox.Isolation.Cgroups;
using Sandbox.Isolation.IO;
using Sandbox.Isolation.Native;

namespace Sandbox.Isolation.Container;

/// <summary>The container tier: Linux namespaces, a cgroup, seccomp and an unprivileged host uid per sandbox,
/// launched by bubblewrap.</summary>
public sealed class BubblewrapDriver : ISandboxDriver, ILeftoverReclaimer
{
    private static readonly TimeSpan s_diagnosticsWait = TimeSpan.FromSeconds(1);

    private readonly BubblewrapOptions _options;
    private readonly CgroupLayout _cgroups;
    private readonly ContainerLauncher _launcher;

    private readonly TimeProvider _time;

    /// <param name="time">The clock of the engine's own bounded waits; the system's when null.</param>
    public BubblewrapDriver(BubblewrapOptions? options = null, CgroupLayout? cgroups = null, TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _options = options ?? new BubblewrapOptions();
        _cgroups = cgroups ?? CgroupLayout.Host;
        _launcher = new ContainerLauncher(_options, _cgroups);
    }

    private int _janitorRan;

    /// <summary>Removes the empty cgroups of sandboxes whose owner died before it could clean up (see
    /// <see cref="CgroupJanitor"/>: only those no live process owns). Runs by itself before this driver's first
    /// sandbox; returns how many were removed.</summary>
    public int RemoveStaleCgroups() => CgroupJanitor.RemoveStale(_cgroups, _options.CgroupParent);

    /// <summary>The engine's start-up clean-up (the CLI's --local, sandboxd, any host), once per driver.</summary>
    private async Task RemoveStaleCgroupsOnceAsync()
    {
        if (Interlocked.Exchange(ref _janitorRan, 1) == 0 && _cgroups.Version != CgroupVersion.None)
        {
            RemoveStaleCgroups();
            // Networks of dead owners whose sandbox is gone too (no cgroup left): one whose sandbox still runs waits
            // for its owner's successor to take it back (AttachAsync) or reclaim it (ReclaimAsync).
            var live = CgroupFactory.List(_cgroups, _options.CgroupParent).ToHashSet();
            await Network.SandboxNetwork.ReclaimLeftoversAsync(_options.Network, live.Contains).ConfigureAwait(false);
        }
    }

    /// <summary>Room in a long-lived sandbox's pids limit for the agent's threads: a fork bomb that takes every task
    /// the spec allows (held there by RLIMIT_NPROC, which counts the agent's threads too) must not starve the agent.</summary>
    internal const int AgentPidsReserve = 32;

    public SandboxTier Tier => SandboxTier.Container;

    public DriverCapabilities Capabilities => DriverCapabilities.Attach | DriverCapabilities.Pause | DriverCapabilities.UpdateLimits |
        DriverCapabilities.Signal | DriverCapabilities.CgroupStats | DriverCapabilities.ExitNotification | DriverCapabilities.SharedNetwork
        | DriverCapabilities.OrchestratorNetwork;

    public Task<DriverAvailability> ProbeAsync(CancellationToken cancellationToken) => Task.FromResult(Probe());

    private DriverAvailability Probe()
    {
        if (!File.Exists(_options.BwrapPath))
            return new(false, $"bubblewrap not found at {_options.BwrapPath} (apt-get install bubblewrap)");
        if (AgentBundle.TryLocate(_options.AgentDirectory) is not { } bundle || !File.Exists(Path.Combine(bundle.Directory, AgentBundle.LaunchHelperName)))
            return new(false, $"the agent bundle's {AgentBundle.LaunchHelperName} was not found (scripts/build-agent.sh): it starts every container");
        if (_cgroups.Version == CgroupVersion.None)
            return new(false, "no usable cgroup controllers (memory, pids)");
        if (!Environment.IsPrivilegedProcess)
            return new(false, "the container tier needs root (it creates cgroups and drops to per-sandbox host uids)");
        return new(true, $"bubblewrap, cgroup {_cgroups.Describe()}");
    }

    public async Task<ExitStatus> RunAsync(SandboxSpec spec, ProcessSpec process, ProcessIO io, CancellationToken cancellationToken)
    {
        SpecValidator.Validate(spec);
        SpecValidator.Validate(process);
        HostMount.Refuse(spec, "are not taken by the container tier: bind into the root given to it");
        RefuseNoExecScratch(spec);
        if (process.Tty is not null)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, "a terminal (ProcessSpec.Tty) needs a long-lived sandbox (CreateAsync + ExecAsync); the one-shot path runs with pipes");
        await RemoveStaleCgroupsOnceAsync().ConfigureAwait(false);
        return await OneShotRun.RunAsync(_launcher, spec, process, io, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sandboxes whose cgroup exists under this driver's cgroup parent: live ones and ones left behind by a
    /// process that died (a daemon killed with SIGKILL).</summary>
    public IReadOnlyList<SandboxId> ListLeftovers() => CgroupFactory.List(_cgroups, _options.CgroupParent);

    /// <summary>Kills whatever is left of a sandbox this process did not create (or lost track of) and removes its
    /// cgroup. Returns false when nothing was left. Only for sandboxes nothing in this process is using.</summary>
    public async Task<bool> ReclaimAsync(SandboxId id, CancellationToken cancellationToken)
    {
        // The channel directory may not exist yet (a leftover found before this driver's first long-lived sandbox):
        // then there is no socket to remove either.
        if (ChannelPath(id) is { } socket && Directory.Exists(_options.ChannelDirectory))
            File.Delete(socket);
        if (Network.SandboxNetwork.Adopt(_options.Network, id) is { } network)
            await network.DisposeAsync().ConfigureAwait(false);
        if (CgroupFactory.Open(_cgroups, _options.CgroupParent, id) is not { } cgroup)
            return false;
        await cgroup.DisposeAsync().ConfigureAwait(false);
        return true;
    }

    /// <summary>bwrap mounts its tmpfs mounts without noexec and has no option for it: refused, never dropped.</summary>
    private static void RefuseNoExecScratch(SandboxSpec spec)
    {
        if (spec.ScratchMounts.FirstOrDefault(m => m.NoExec) is { } m)
            throw new SandboxException(SandboxErrorCode.FailedPrecondition,
                $"tmpfs mount at {m.Destination}: noexec is not applied on the container tier (bwrap has no such option); drop it or ask for the microVM tier");
    }

    public async Task<ISandbox> CreateAsync(SandboxSpec spec, CancellationToken cancellationToken)
    {
        SpecValidator.Validate(spec);
        HostMount.Refuse(spec, "are not taken by the container tier: bind into the root given to it");
        RefuseNoExecScratch(spec);
        await RemoveStaleCgroupsOnceAsync().ConfigureAwait(false);
        var bundle = AgentBundle.Locate(_options.AgentDirectory);
        await using var rollback = new RollbackStack();

        // The agent's channel. A sandbox that dies with its owner gets one end of a socket pair: the agent exits when
        // it closes. One that outlives its owner gets a listening socket whose file is in the root-only channel
        // directory on the host (never mounted inside): the owner connects to it, and connects again after a restart.
        Socket? agentSocket = null;
        Socket? listener = null;
        FileDescriptor? agentRemote = null;
        string? socketPath = null;
        if (spec.DieWithOwner)
        {
            (agentSocket, agentRemote) = UnixSocketPair.Create();
            rollback.Push(agentSocket);
        }
        else
        {
            socketPath = ChannelPath(spec.Id) ?? throw new SandboxException(SandboxErrorCode.InvalidArgument,
                "a sandbox that outlives its owner (DieWithOwner = false) needs BubblewrapOptions.ChannelDirectory");
            Directory.CreateDirectory(_options.ChannelDirectory!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            File.Delete(socketPath);
            // .NET unlinks the file a socket bound when that socket is disposed, and this one is disposed as soon as
            // the agent holds its copy: bind under a temporary name and rename, so the unlink misses.
            var bindPath = socketPath + ".new";
            File.Delete(bindPath);
            listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            rollback.Push(listener);
            listener.Bind(new UnixDomainSocketEndPoint(bindPath));
            File.Move(bindPath, socketPath);
            rollback.Push(() => File.Delete(socketPath));
            listener.Listen(4);
        }
        var (stderr, stderrRemote) = UnixSocketPair.Create();
        rollback.Push(stderr);
        var tail = new TailBuffer();
        var stderrPump = tail.PumpAsync(stderr);

        ContainerInstance instance;
        using (agentRemote)
        using (stderrRemote)
        using (listener)
        using (var devNull = File.OpenHandle("/dev/null", FileMode.Open, FileAccess.ReadWrite))
        {
            var nullFd = (int)devNull.DangerousGetHandle();
            var agentFd = agentRemote?.Fd ?? (int)listener!.Handle;
            // The agent runs as a uid of its own (ContainerLauncher.AgentId); the workload, started by it, as the
            // sandbox's user.
            var user = spec.User ?? SandboxUser.Default;
            instance = await _launcher.LaunchAsync(spec,
                [.. bundle.Command(BwrapFds.Agent, listening: listener is not null), "--nproc", spec.Limits.PidsMax.ToString(),
                    "--workload-user", user.ToString(), .. SandboxRlimits.AgentArgs(spec.Limits)],
                DefaultEnvironment.For(spec, null), spec.WorkDir,
                new ContainerLauncher.Stdio(nullFd, nullFd, stderrRemote.Fd),
                [new RoBind(bundle.Directory, AgentBundle.MountPoint)],
                [new NativeSpawn.FdMapping(agentFd, BwrapFds.Agent)],
                cancellationToken, AgentPidsReserve, commandIsInit: true).ConfigureAwait(false);
        }
        rollback.Push(instance);

        if (socketPath is not null)
        {
            agentSocket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            rollback.Push(agentSocket);
            await agentSocket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
        }
        var agent = AgentClient.Create(new NetworkStream(agentSocket!, ownsSocket: false));
        rollback.Push(agent);
        using (var start = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            start.CancelAfter(_options.AgentStartTimeout);
            try
            {
                await agent.PingAsync(start.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // bwrap on its way out says why: wait (bounded) for its exit and for its stderr to reach EOF, so its exit
                // code and last words make it into the error.
                var exit = instance.Bwrap.WaitForExitAsync(CancellationToken.None);
                string code;
                try
                {
                    code = $"exit code {await exit.WaitAsync(s_diagnosticsWait, _time, CancellationToken.None).ConfigureAwait(false)}";
                    await stderrPump.WaitAsync(s_diagnosticsWait, _time, CancellationToken.None).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    code = exit.IsCompletedSuccessfully ? $"exit code {exit.Result}" : "still running";
                }
                throw new SandboxException(SandboxErrorCode.Unavailable,
                    $"the sandbox agent did not start: {e.Message} (bwrap {code}); stderr: {tail}", e);
            }
        }
        // The work dir is a tmpfs bwrap made as the agent's uid: it becomes the sandbox user's, by the host (the agent
        // answered, so bwrap's mounts are done, and nothing of the workload has run yet to race the path).
        ContainerLauncher.GiveWorkDir(instance, spec.WorkDir);
        rollback.Commit();
        // stderr stays open for the sandbox's lifetime; it closes when the sandbox dies.
        return new ContainerSandbox(instance, agent, agentSocket!, spec, stderr, tail, _options.AgentCallDeadline, socketPath);
    }

    /// <summary>Takes back a sandbox created (with <see cref="SandboxSpec.DieWithOwner"/> = false) by an earlier
    /// process of this host (a sandboxd killed and restarted): the same bwrap, its cgroup, its host uid, and the agent
    /// answering on its socket. Whatever is left of a sandbox that cannot be taken back (bwrap gone, pid reused, agent
    /// silent) is killed and removed, and SandboxException NOT_FOUND / UNAVAILABLE says why.</summary>
    public async Task<ISandbox> AttachAsync(SandboxId id, SandboxAttachment attachment, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(attachment);
        ContainerAttachment record;
        try
        {
            record = ContainerAttachment.From(id, attachment);
        }
        catch (SandboxException) when (attachment.Tier == SandboxTier.Container)
        {
            // A record this driver cannot read names a sandbox of this tier that can never be taken back: reclaim it.
            await ReclaimAsync(id, cancellationToken).ConfigureAwait(false);
            throw;
        }
        var instance = _launcher.Attach(id, record);
        if (instance is null)
        {
            await ReclaimAsync(id, cancellationToken).ConfigureAwait(false);
            throw new SandboxException(SandboxErrorCode.NotFound, $"sandbox {id} is not running any more (its bwrap {record.BwrapPid} is gone)");
        }
        await using var rollback = new RollbackStack();
        rollback.Push(instance);
        // Only ever the socket this driver would have made for the id: a record naming another path is not followed.
        if (ChannelPath(id) is not { } socketPath || socketPath != record.AgentSocket)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"sandbox {id}: agent socket {record.AgentSocket} is not in the channel directory");
        rollback.Push(() => File.Delete(socketPath));
        var agentSocket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        rollback.Push(agentSocket);
        AgentClient? agent = null;
        using (var start = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            start.CancelAfter(_options.AgentAttachTimeout);
            try
            {
                await agentSocket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), start.Token).ConfigureAwait(false);
                agent = AgentClient.Create(new NetworkStream(agentSocket, ownsSocket: false));
                rollback.Push(agent);
                await agent.PingAsync(start.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                throw new SandboxException(SandboxErrorCode.Unavailable, $"the agent of sandbox {id} does not answer: {e.Message}", e);
            }
        }
        var spec = new SandboxSpec
        {
            Id = id,
            Limits = record.Limits,
            Env = record.Env,
            WorkDir = record.WorkDir,
            Hostname = record.Hostname,
            SyscallProfile = record.SyscallProfile,
            User = record.User,
            DieWithOwner = false,
        };
        rollback.Commit();
        return new ContainerSandbox(instance, agent!, agentSocket, spec, null, new TailBuffer(), _options.AgentCallDeadline, socketPath);
    }

    /// <summary>Removes agent sockets (and half-made ones) of sandboxes not in <paramref name="keep"/> from the channel
    /// directory: what a killed owner left of sandboxes that are gone. Returns how many.</summary>
    public int RemoveStaleFiles(IReadOnlySet<SandboxId> keep)
    {
        if (_options.ChannelDirectory is not { } dir || !Directory.Exists(dir))
            return 0;
        var removed = 0;
        foreach (var file in Directory.EnumerateFiles(dir))
        {
            var name = Path.GetFileName(file);
            var stem = name.EndsWith(".sock", StringComparison.Ordinal) ? name[..^5] : null;
            if (stem is not null && SandboxId.TryParse(stem, out var id) && keep.Contains(id))
                continue;
            File.Delete(file);
            removed++;
        }
        return removed;
    }

    private string? ChannelPath(SandboxId id) =>
        _options.ChannelDirectory is { } dir ? Path.Combine(dir, id.Value + ".sock") : null;
}
