using System.Net.Sockets;
using Sandbox.Isolation.Agent;
using Sandbox.Isolation.Container.Cgroups;
using Sandbox.Isolation.IO;
using Sandbox.Isolation.Native;

namespace Sandbox.Isolation.Container;

/// <summary>The container tier: Linux namespaces, a cgroup, seccomp and an unprivileged host uid per sandbox,
/// launched by bubblewrap.</summary>
public sealed class BubblewrapDriver : ISandboxDriver
{
    private static readonly TimeSpan s_agentStartTimeout = TimeSpan.FromSeconds(15);

    private readonly BubblewrapOptions _options;
    private readonly CgroupLayout _cgroups;
    private readonly ContainerLauncher _launcher;

    public BubblewrapDriver(BubblewrapOptions? options = null, CgroupLayout? cgroups = null)
    {
        _options = options ?? new BubblewrapOptions();
        _cgroups = cgroups ?? CgroupLayout.Host;
        _launcher = new ContainerLauncher(_options, _cgroups);
    }

    /// <summary>Removes the empty cgroups of sandboxes whose owner was killed before it could clean up (see
    /// <see cref="CgroupJanitor"/>). Hosts call it at startup; returns how many were removed.</summary>
    public int RemoveStaleCgroups() => RemoveStaleCgroups(_options.StaleCgroupAge);

    internal int RemoveStaleCgroups(TimeSpan minimumAge) => CgroupJanitor.RemoveStale(_cgroups, _options.CgroupParent, minimumAge);

    public SandboxTier Tier => SandboxTier.Container;

    public DriverAvailability Probe()
    {
        if (!File.Exists(_options.BwrapPath))
            return new(false, $"bubblewrap not found at {_options.BwrapPath} (apt-get install bubblewrap)");
        if (Environment.IsPrivilegedProcess && !File.Exists(_options.SetprivPath))
            return new(false, $"setpriv not found at {_options.SetprivPath} (util-linux)");
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
        return await OneShotRun.RunAsync(_launcher, spec, process, io, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sandboxes whose cgroup exists under this driver's cgroup parent: live ones and ones left behind by a
    /// process that died (a daemon killed with SIGKILL).</summary>
    public IReadOnlyList<SandboxId> ListLeftovers() => CgroupFactory.List(_cgroups, _options.CgroupParent);

    /// <summary>Kills whatever is left of a sandbox this process did not create (or lost track of) and removes its
    /// cgroup. Returns false when nothing was left. Only for sandboxes nothing in this process is using.</summary>
    public async Task<bool> ReclaimAsync(SandboxId id, CancellationToken cancellationToken)
    {
        if (CgroupFactory.Open(_cgroups, _options.CgroupParent, id) is not { } cgroup)
            return false;
        await cgroup.DisposeAsync().ConfigureAwait(false);
        return true;
    }

    public async Task<ISandbox> CreateAsync(SandboxSpec spec, CancellationToken cancellationToken)
    {
        SpecValidator.Validate(spec);
        var bundle = AgentBundle.Locate(_options.AgentDirectory);
        await using var rollback = new RollbackStack();

        var (agentSocket, agentRemote) = UnixSocketPair.Create();
        rollback.Push(agentSocket);
        var (stderr, stderrRemote) = UnixSocketPair.Create();
        rollback.Push(stderr);
        var tail = new TailBuffer();
        _ = tail.PumpAsync(stderr);

        ContainerInstance instance;
        using (agentRemote)
        using (stderrRemote)
        using (var devNull = File.OpenHandle("/dev/null", FileMode.Open, FileAccess.ReadWrite))
        {
            var nullFd = (int)devNull.DangerousGetHandle();
            instance = await _launcher.LaunchAsync(spec, bundle.Command(BwrapFds.Agent), DefaultEnvironment.For(spec, null), spec.WorkDir,
                new ContainerLauncher.Stdio(nullFd, nullFd, stderrRemote.Fd),
                [new RoBind(bundle.Directory, AgentBundle.MountPoint)],
                [new NativeSpawn.FdMapping(agentRemote.Fd, BwrapFds.Agent)],
                cancellationToken).ConfigureAwait(false);
        }
        rollback.Push(instance);

        var agent = AgentClient.Create(new NetworkStream(agentSocket, ownsSocket: false));
        rollback.Push(agent);
        using (var start = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            start.CancelAfter(s_agentStartTimeout);
            try
            {
                await agent.PingAsync(start.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // Give bwrap a moment to finish so its exit code and last words make it into the error.
                var exit = instance.Bwrap.WaitForExitAsync(CancellationToken.None);
                var code = await Task.WhenAny(exit, Task.Delay(1000, CancellationToken.None)).ConfigureAwait(false) == exit ? $"exit code {await exit.ConfigureAwait(false)}" : "still running";
                await Task.Delay(50, CancellationToken.None).ConfigureAwait(false);
                throw new SandboxException(SandboxErrorCode.Unavailable,
                    $"the sandbox agent did not start: {e.Message} (bwrap {code}); stderr: {tail}", e);
            }
        }
        rollback.Commit();
        // stderr stays open for the sandbox's lifetime; it closes when the sandbox dies.
        return new ContainerSandbox(instance, agent, agentSocket, spec, stderr, tail);
    }
}
