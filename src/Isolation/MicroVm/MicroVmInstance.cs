using System.Net.Sockets;
using System.Runtime.InteropServices;
using Sandbox.Isolation.Agent;
using Sandbox.Isolation.Cgroups;
using Sandbox.Isolation.IO;
using Sandbox.Isolation.MicroVm.Qmp;
using Sandbox.Isolation.Native;

namespace Sandbox.Isolation.MicroVm;

/// <summary>
/// One booted microVM on the host: its private 0700 state directory (MicroVmOptions.StateDirectory/{id}) with the QMP
/// and agent sockets, the QEMU process inside its own host cgroup, the QMP client, the agent client, and the tail of
/// the serial console (quoted in errors). Disposing quits QEMU, kills the cgroup (everything QEMU started), reaps
/// QEMU, removes the cgroup and the directory. A VM that outlives its owner has QEMU as the client of both sockets
/// with reconnect=1: a restarted owner binds them again and QEMU comes back to it (<see cref="AttachAsync"/>).
/// </summary>
internal sealed partial class MicroVmInstance : IAsyncDisposable
{
    private readonly string _directory;
    private readonly int _hostUid;
    private readonly ICgroup _cgroup;
    private readonly Socket? _console;
    private int _disposed;

    /// <summary>Gives the host uid back to its allocator once QEMU is gone (or handed to another owner).</summary>
    internal Action? ReleaseHostUid { get; set; }

    public QemuProcess Qemu { get; }
    public QmpClient Qmp { get; }
    public AgentClient Agent { get; }
    public TailBuffer Console { get; }
    public string GuestKernel { get; }

    /// <summary>The host's stages of this VM's start (since BootAsync began) and the guest's as its readiness ping
    /// reported them; the driver adds the set-up call. Empty for a VM taken back from an earlier owner.</summary>
    public List<(string Stage, TimeSpan At)> HostTimeline { get; } = [];
    public IReadOnlyList<(string Stage, TimeSpan Boottime)> GuestTimeline { get; private set; } = [];
    public TimeSpan? GuestPingAt { get; internal set; }

    /// <summary>The set-up call a restored VM was sent right behind its readiness ping (<see cref="BootAsync"/>'s
    /// setUpBehindPing), for its owner to await; null when none was sent.</summary>
    public Task? PendingSetUp { get; private init; }
    /// <summary>Runs from the start of BootAsync: the zero of <see cref="HostTimeline"/>.</summary>
    internal System.Diagnostics.Stopwatch StartClock { get; private init; } = new();

    private MicroVmInstance(string directory, int hostUid, ICgroup cgroup, QemuProcess qemu, QmpClient qmp, AgentClient agent, Socket? console,
        TailBuffer tail, string guestKernel)
    {
        _directory = directory;
        _hostUid = hostUid;
        _cgroup = cgroup;
        Qemu = qemu;
        Qmp = qmp;
        Agent = agent;
        _console = console;
        Console = tail;
        GuestKernel = guestKernel;
    }

    public int QemuPid => Qemu.Pid;

    /// <summary>The unprivileged host uid QEMU runs as (its jail's), owner of the state directory and its sockets.</summary>
    public int HostUid => _hostUid;

    /// <summary>The private 0700 state directory of this VM's sockets (removed on dispose).</summary>
    public string Directory => _directory;

    /// <summary>The first ttrpc stream id of a host client of a restored guest: the template's agent already saw the
    /// ids of the Ping that decided "ready" (1), and refuses ids that do not increase.</summary>
    internal const uint RestoredFirstStreamId = 1001;

    /// <summary>The first ttrpc stream id of an owner that takes a VM back: above any id an earlier owner could have
    /// used, in case the guest's session did not end with the old connection.</summary>
    internal const uint ReattachedFirstStreamId = (1u << 30) + 1;

    /// <summary>Boots a VM and waits for the agent to answer a Ping (the guest opened its port first). With
    /// <paramref name="restoreStatePath"/>, the VM is not booted but restored: QEMU must have been started with
    /// -incoming defer over the template's RAM file; the device state is streamed in over a unix socket
    /// (migrate-incoming), the VM continued, and the agent pinged on the connection it already has open.</summary>
    /// QEMU runs in <paramref name="jail"/> (whose binds must hold <paramref name="directory"/>), as the jail's host uid,
    /// which owns the state directory and the sockets in it; <paramref name="rootImage"/>, when given, is passed on
    /// <see cref="VmmJail.RootImageFd"/>, a restored clone's <paramref name="templateRam"/> on <see cref="VmmJail.TemplateRamFd"/>,
    /// and a CNI pod's <paramref name="tap"/> on <see cref="VmmJail.TapFd"/> (the caller keeps its own descriptor: it
    /// owns the tap's lifetime, see <see cref="Network.PodNetworkTap"/>).
    /// A restored VM's agent is serving already when the VM continues, and a cold-booted VM's has opened its port (what
    /// the host sends from then on waits in the port for the agent to read): <paramref name="setUpBehindPing"/> (the
    /// owner's set-up call) is then sent right behind the readiness ping instead of one round trip through the guest
    /// later, and left in <see cref="PendingSetUp"/> for the owner to await (its errors are the owner's, not the boot's).
    public static async Task<MicroVmInstance> BootAsync(SandboxId id, string directory, Func<string, string, QemuCommandLine> commandLine,
        VmmJail jail, SafeHandle? rootImage, SafeHandle? templateRam, ResourceLimits hostLimits, CgroupLayout cgroups, string cgroupParent, TimeSpan bootTimeout,
        CancellationToken cancellationToken, string? restoreStatePath = null, Func<AgentClient, Task>? setUpBehindPing = null, SafeHandle? tap = null)
    {
        Task? pendingSetUp = null;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var timeline = new List<(string, TimeSpan)>();
        await using var rollback = new RollbackStack();
        CreatePrivateDirectory(directory, jail.HostUid);
        rollback.Push(() => System.IO.Directory.Delete(directory, recursive: true));

        var qmpPath = Path.Combine(directory, "qmp.sock");
        var agentPath = Path.Combine(directory, "agent.sock");
        using var qmpListener = Listen(qmpPath, jail.HostUid);
        using var agentListener = Listen(agentPath, jail.HostUid);
        var cmd = commandLine(qmpPath, agentPath);
        // A share inside the state directory (a pod's share) is this VM's too: made here, the VM's uid's, gone with it.
        foreach (var share in cmd.Shares.Where(s => Path.GetDirectoryName(s.HostPath) == directory))
            CreatePrivateDirectory(share.HostPath, jail.HostUid);

        var cgroup = CgroupFactory.Create(cgroups, cgroupParent, id, hostLimits);
        rollback.Push(cgroup);

        var (console, consoleRemote) = UnixSocketPair.Create();
        rollback.Push(console);
        var tail = new TailBuffer();
        var pump = tail.PumpAsync(console);

        QemuProcess qemu;
        using (consoleRemote)
        using (var devNull = File.OpenHandle("/dev/null", FileMode.Open, FileAccess.ReadWrite))
        {
            var fds = new List<NativeSpawn.FdMapping> { new((int)devNull.DangerousGetHandle(), 0), new(consoleRemote.Fd, 1), new(consoleRemote.Fd, 2) };
            if (rootImage is not null)
                fds.Add(new((int)rootImage.DangerousGetHandle(), VmmJail.RootImageFd));
            if (templateRam is not null)
                fds.Add(new((int)templateRam.DangerousGetHandle(), VmmJail.TemplateRamFd));
            if (tap is not null)
                fds.Add(new((int)tap.DangerousGetHandle(), VmmJail.TapFd));
            // In its cgroup before it runs: the jail holds QEMU until bwrap and the jail's init are moved there.
            try
            {
                timeline.Add(("cgroup-made", clock.Elapsed));
                qemu = await QemuProcess.StartJailedAsync(jail, cmd.ToArgv(), fds, cgroup, cancellationToken).ConfigureAwait(false);
                timeline.Add(("jail-started", clock.Elapsed));
            }
            catch (SandboxException e) when (!cancellationToken.IsCancellationRequested)
            {
                // bwrap says why on stderr (the console): let the pump read it to the end, briefly.
                consoleRemote.Dispose();
                await WaitBrieflyAsync(pump).ConfigureAwait(false);
                throw new SandboxException(SandboxErrorCode.Unavailable, $"QEMU's jail did not start: {e.Message}; console: {tail}", e);
            }
        }
        rollback.Push(qemu);

        using var boot = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        boot.CancelAfter(bootTimeout);
        try
        {
            var qmpSocket = await AcceptOrExitAsync(qmpListener, qemu, tail, boot.Token).ConfigureAwait(false);
            var qmp = await QmpClient.ConnectAsync(new NetworkStream(qmpSocket, ownsSocket: true), boot.Token,
                () => QemuState(qemu, tail)).ConfigureAwait(false);
            rollback.Push(qmp);
            timeline.Add(("qmp-connected", clock.Elapsed));
            var agentSocket = await AcceptOrExitAsync(agentListener, qemu, tail, boot.Token).ConfigureAwait(false);
            timeline.Add(("agent-connected", clock.Elapsed));
            AgentClient agent;
            if (restoreStatePath is null)
            {
                agent = AgentClient.Create(new NetworkStream(agentSocket, ownsSocket: true));
                rollback.Push(agent);
                // The guest's virtio_console discards what arrived before the port was opened: wait for the open.
                await qmp.WaitForEventAsync("VSERPORT_CHANGE", e => e.Data?["open"]?.GetValue<bool>() == true, boot.Token)
                    .WaitAsync(boot.Token).ConfigureAwait(false);
                timeline.Add(("guest-port-open", clock.Elapsed));
            }
            else
            {
                agent = AgentClient.Create(new NetworkStream(agentSocket, ownsSocket: true), RestoredFirstStreamId);
                rollback.Push(agent);
                // The guest's port is open in the snapshot (it was open at "ready"): no VSERPORT_CHANGE comes.
                await IncomingMigrationAsync(qmp, qemu, tail, Path.Combine(directory, "migrate.sock"), restoreStatePath, boot.Token).ConfigureAwait(false);
                timeline.Add(("state-loaded-running", clock.Elapsed));
            }
            // The ping takes the connection's send lock first (uncontended, so before this returns): its stream id is
            // the lower one, as the agent requires.
            var pinging = agent.PingAsync(boot.Token);
            if (setUpBehindPing is not null)
                pendingSetUp = setUpBehindPing(agent);
            var ping = await pinging.ConfigureAwait(false);
            var pingAt = clock.Elapsed;
            timeline.Add(("agent-answered", pingAt));
            var instance = new MicroVmInstance(directory, jail.HostUid, cgroup, qemu, qmp, agent, console, tail, ping.Kernel)
            {
                GuestTimeline = MicroVmStartTimeline.GuestStages(ping.BootStages),
                GuestPingAt = pingAt,
                StartClock = clock,
                PendingSetUp = pendingSetUp,
            };
            instance.HostTimeline.AddRange(timeline);
            rollback.Commit();
            return instance;
        }
        catch (Exception e) when (e is OperationCanceledException or SandboxException or IOException or SocketException
                                      or Ttrpc.TtrpcException or AgentProtocolException)
        {
            // The set-up sent behind the ping fails with the connection the rollback closes: nobody awaits it now.
            _ = pendingSetUp?.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted,
                TaskScheduler.Default);
            if (cancellationToken.IsCancellationRequested) throw;
            // A QEMU that is on its way out says why in its exit status: wait for it, briefly, rather than guess.
            await WaitBrieflyAsync(qemu.Exited).ConfigureAwait(false);
            var what = qemu.Exited.IsCompleted ? $"QEMU exited with {await qemu.Exited.ConfigureAwait(false)}" :
                e is OperationCanceledException ? $"no answer from the guest agent within {bootTimeout.TotalSeconds:0.#} s" : e.Message;
            if (restoreStatePath is not null && (qemu.Exited.IsCompleted || e is SnapshotRestoreException))
                throw new SnapshotRestoreException($"the microVM could not be restored from its snapshot template: {what}; console: {tail}", e);
            throw new SandboxException(SandboxErrorCode.Unavailable, $"the microVM did not boot: {what}; console: {tail}", e);
        }
    }

    private static async Task WaitBrieflyAsync(Task exit)
    {
        try
        {
            await exit.WaitAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
    }

    /// <summary>The VM's state directory, 0700 and new (one left by an earlier VM of the same id is not reused), owned
    /// by the VM's host uid: QEMU, jailed as that uid, connects to the sockets in it. Its parent stays root's 0700, so
    /// no other host user reaches it.</summary>
    private static void CreatePrivateDirectory(string directory, int owner)
    {
        if (System.IO.Directory.Exists(directory))
            throw new SandboxException(SandboxErrorCode.AlreadyExists, $"the microVM state directory {directory} already exists");
        System.IO.Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        GiveTo(directory, owner);
    }

    /// <summary>Hands a path in the state directory to the VM's host uid (lchown: a link is never followed).</summary>
    private static void GiveTo(string path, int owner)
    {
        if (Interop.Libc.Lchown(path, owner, owner) != 0)
            throw Interop.Errno.Fail($"lchown {path} to uid {owner}");
    }

    /// <summary>Takes back a VM an earlier owner started with reconnecting sockets: the same QEMU (pid and start
    /// time) in the VM's cgroup; the QMP and agent sockets are bound again in its state directory, QEMU connects to
    /// them (it retries every second), and the agent must answer a Ping. Null, having touched nothing but the socket
    /// files, when that QEMU or its cgroup is gone.</summary>
    public static async Task<MicroVmInstance?> AttachAsync(SandboxId id, string directory, int hostUid, int qemuPid, ulong qemuStartTime, string guestKernel,
        CgroupLayout cgroups, string cgroupParent, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (QemuProcess.Attach(qemuPid, qemuStartTime) is not { } qemu)
            return null;
        await using var rollback = new RollbackStack();
        rollback.Push(qemu.Forget);
        if (CgroupFactory.Open(cgroups, cgroupParent, id) is not { } cgroup)
            return null;
        // From here on a failure kills what is in the VM's cgroup and removes it: what reclaiming would do anyway. A
        // QEMU outside that cgroup is not ours and is left alone.
        rollback.Push(cgroup);
        if (!Container.ContainerLauncher.InCgroup(qemu.Pid, cgroupParent, id))
            return null;
        var tail = new TailBuffer();
        var qmpPath = Path.Combine(directory, "qmp.sock");
        var agentPath = Path.Combine(directory, "agent.sock");
        File.Delete(qmpPath);
        File.Delete(agentPath);
        using var qmpListener = Listen(qmpPath, hostUid);
        using var agentListener = Listen(agentPath, hostUid);
        using var attach = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        attach.CancelAfter(timeout);
        try
        {
            var qmpSocket = await AcceptOrExitAsync(qmpListener, qemu, tail, attach.Token).ConfigureAwait(false);
            var qmp = await QmpClient.ConnectAsync(new NetworkStream(qmpSocket, ownsSocket: true), attach.Token,
                () => QemuState(qemu, tail)).ConfigureAwait(false);
            rollback.Push(qmp);
            var agentSocket = await AcceptOrExitAsync(agentListener, qemu, tail, attach.Token).ConfigureAwait(false);
            var agent = AgentClient.Create(new NetworkStream(agentSocket, ownsSocket: true), ReattachedFirstStreamId);
            rollback.Push(agent);
            await agent.PingAsync(attach.Token).ConfigureAwait(false);
            var instance = new MicroVmInstance(directory, hostUid, cgroup, qemu, qmp, agent, null, tail, guestKernel);
            rollback.Commit();
            return instance;
        }
        catch (Exception e) when (e is OperationCanceledException or SandboxException or IOException or SocketException
                                      or Ttrpc.TtrpcException or AgentProtocolException)
        {
            if (cancellationToken.IsCancellationRequested) throw;
            throw new SandboxException(SandboxErrorCode.Unavailable,
                $"microVM {id} could not be taken back: {(e is OperationCanceledException ? $"no answer within {timeout.TotalSeconds:0.#} s" : e.Message)}", e);
        }
    }

    /// <summary>Lets go of the VM without stopping it: closes this owner's QMP, agent and console connections and
    /// nothing else (QEMU, its cgroup and state directory stay). What an owner's death does; tests use it to play a
    /// restart in one process.</summary>
    internal async ValueTask AbandonAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await Agent.DisposeAsync().ConfigureAwait(false);
        await Qmp.DisposeAsync().ConfigureAwait(false);
        _console?.Dispose();
        Qemu.Forget();
        _cgroup.Release();
        ReleaseHostUid?.Invoke();
    }

    /// <summary>What to say when QEMU's connection ends: its exit status if it is gone, and the console's last lines.</summary>
    private static string QemuState(QemuProcess qemu, TailBuffer tail) =>
        (qemu.Exited.IsCompleted ? $"QEMU exited ({qemu.Exited.Result})" : "QEMU still running") + $"; console: {tail}";

    /// <summary>A listening socket QEMU connects to, owned by QEMU's host uid (connecting needs write permission on
    /// it); 0 = root-run QEMU of an older record.</summary>
    private static Socket Listen(string path, int owner)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(new UnixDomainSocketEndPoint(path));
            if (owner > 0) GiveTo(path, owner);
            socket.Listen(1);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async Task<Socket> AcceptOrExitAsync(Socket listener, QemuProcess qemu, TailBuffer tail, CancellationToken cancellationToken)
    {
        var accept = listener.AcceptAsync(cancellationToken).AsTask();
        if (await Task.WhenAny(accept, qemu.Exited).ConfigureAwait(false) == accept)
            return await accept.ConfigureAwait(false);
        throw new SandboxException(SandboxErrorCode.Unavailable, $"QEMU exited with {await qemu.Exited.ConfigureAwait(false)} before connecting: {tail}");
    }

    /// <summary>PSS and RSS of QEMU in bytes, from /proc/PID/smaps_rollup.</summary>
    public (long Pss, long Rss) Memory()
    {
        long pss = 0, rss = 0;
        foreach (var line in File.ReadLines($"/proc/{Qemu.Pid}/smaps_rollup"))
        {
            static long Kib(string l) => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
            if (line.StartsWith("Pss:", StringComparison.Ordinal)) pss = Kib(line);
            else if (line.StartsWith("Rss:", StringComparison.Ordinal)) rss = Kib(line);
        }
        return (pss, rss);
    }

    public SandboxStats ReadHostStats() => _cgroup.ReadStats();

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        List<Exception>? failures = null;
        try
        {
            using var quit = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
            await Qmp.QuitAsync(quit.Token).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // QEMU may be wedged or gone; the cgroup kill below is what counts.
        }
        await Agent.DisposeAsync().ConfigureAwait(false);
        await Qmp.DisposeAsync().ConfigureAwait(false);
        try { await _cgroup.KillAllAsync(CancellationToken.None).ConfigureAwait(false); }
        catch (Exception e) { (failures ??= []).Add(e); }
        await Qemu.DisposeAsync().ConfigureAwait(false);
        try { await _cgroup.DisposeAsync().ConfigureAwait(false); }
        catch (Exception e) { (failures ??= []).Add(e); }
        _console?.Dispose();
        ReleaseHostUid?.Invoke();
        try { System.IO.Directory.Delete(_directory, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { (failures ??= []).Add(e); }
        if (failures is not null)
            throw new AggregateException("microVM was not torn down cleanly", failures);
    }
}
