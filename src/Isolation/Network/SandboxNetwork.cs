using System.Globalization;
using Sandbox.Isolation.Cgroups;

namespace Sandbox.Isolation.Network;

/// <summary>The egress network of one sandbox, set up by the host before the sandbox starts and shared by both tiers:
/// <list type="number">
/// <item>a named network namespace (`ip netns add sandbox-{id}`) created by the host, so it belongs to the initial user
/// namespace: nothing the sandbox runs has any capability over it;</item>
/// <item>in it: loopback up with the resolver's address, and the nftables ruleset (<see cref="NftRuleset"/>) that lets
/// out only the pinned destinations, and TCP's send buffer capped (<see cref="NamespaceTcpSendBuffer"/>);</item>
/// <item>dnsmasq in it, answering the pinned names only (<see cref="DnsmasqConfig"/>);</item>
/// <item>pasta attached to it (<see cref="PastaArguments"/>): the user-mode stack that carries the allowed traffic out
/// through the host's own sockets (no host firewall change, no bridge, no veth) and publishes ports on the host's
/// loopback.</item>
/// </list>
/// The container joins the namespace (nsenter before bwrap, no --unshare-net); a microVM's QEMU would be attached to a
/// stack inside it. Its state directory ({StateDirectory}/{id}: pid files, dnsmasq's configuration, the helpers' logs)
/// is flock'ed by the owner for the network's whole life, so <see cref="ReclaimLeftoversAsync"/> can tell a dead owner's
/// leftovers from a live one's. Any failure undoes everything taken so far.</summary>
internal sealed class SandboxNetwork : IAsyncDisposable
{
    private static readonly string[] s_pastaExecutables = ["pasta", "passt"];
    private static readonly string[] s_dnsmasqExecutables = ["dnsmasq"];
    private static readonly string[] s_passtExecutables = ["passt"];

    private readonly NetworkOptions _options;
    private readonly string _stateDirectory;
    private readonly CgroupOwnerLock _lock;
    private readonly HelperProcess _pasta;
    private readonly HelperProcess _dnsmasq;
    private HelperProcess? _passt;
    private int _disposed;

    private SandboxNetwork(NetworkOptions options, string name, string stateDirectory, CgroupOwnerLock ownerLock,
        HelperProcess pasta, HelperProcess dnsmasq, IReadOnlyList<string> granted)
    {
        _options = options;
        Name = name;
        _stateDirectory = stateDirectory;
        _lock = ownerLock;
        _pasta = pasta;
        _dnsmasq = dnsmasq;
        Granted = granted;
    }

    /// <summary>The namespace's name (sandbox-{id}).</summary>
    public string Name { get; }

    /// <summary>The namespace's bind-mounted file, what nsenter and pasta join.</summary>
    public string NetnsPath => Path.Combine(_options.NetnsDirectory, Name);

    /// <summary>What the sandbox may reach and what is published, one line each (see <see cref="PinnedEgress.Describe"/>).</summary>
    public IReadOnlyList<string> Granted { get; }

    /// <summary>pasta, dnsmasq and (microVM) passt, for tests that check they go away with the sandbox.</summary>
    internal IReadOnlyList<int> HelperPids => _passt is null ? [_pasta.Pid, _dnsmasq.Pid] : [_pasta.Pid, _dnsmasq.Pid, _passt.Pid];

    public static async Task<SandboxNetwork> CreateAsync(NetworkOptions options, SandboxId id, IReadOnlyList<EgressRule> rules,
        IReadOnlyList<PublishedPort> published, CancellationToken cancellationToken,
        Func<string, CancellationToken, Task<System.Net.IPAddress[]>>? resolve = null)
    {
        if (options.Missing() is { Count: > 0 } missing)
            throw new SandboxException(SandboxErrorCode.FailedPrecondition,
                $"network mode egress needs {string.Join(", ", missing)} (Debian packages iproute2, nftables, util-linux, passt, dnsmasq-base)");
        var egress = await PinnedEgress.ResolveAsync(rules, resolve, cancellationToken).ConfigureAwait(false);
        var granted = egress.Describe().Concat(published.Select(p => $"published 127.0.0.1:{p.HostPort} -> port {p.Port}")).ToList();

        await using var rollback = new RollbackStack();
        CreatePrivateDirectory(options.StateDirectory);
        var stateDirectory = Path.Combine(options.StateDirectory, id.Value);
        CreatePrivateDirectory(stateDirectory);
        var ownerLock = CgroupOwnerLock.Take(stateDirectory);
        rollback.Push(ownerLock);
        rollback.Push(() => Directory.Delete(stateDirectory, recursive: true));
        File.WriteAllLines(Path.Combine(stateDirectory, "granted"), granted);

        var name = NetworkOptions.NetnsPrefix + id.Value;
        var netns = Path.Combine(options.NetnsDirectory, name);
        await HostCommand.RunAsync([options.IpPath, "netns", "add", name]).ConfigureAwait(false);
        rollback.Push(async () => await DeleteNetnsAsync(options, name).ConfigureAwait(false));
        await HostCommand.RunAsync([options.IpPath, "-n", name, "-batch", "-"],
            $"link set lo up\naddress add {SandboxAddresses.Dns}/32 dev lo\n").ConfigureAwait(false);
        await HostCommand.RunAsync([options.NsenterPath, "--net=" + netns, options.NftPath, "-f", "/dev/stdin"],
            NftRuleset.Build(egress)).ConfigureAwait(false);
        NamespaceTcpSendBuffer.Apply(netns);

        var notBefore = BootTicksNow();
        var dnsmasqConf = Path.Combine(stateDirectory, "dnsmasq.conf");
        var dnsmasqPid = Path.Combine(stateDirectory, "dnsmasq.pid");
        File.WriteAllText(dnsmasqConf, DnsmasqConfig.Build(egress, dnsmasqPid, Path.Combine(stateDirectory, "dnsmasq.log")));
        await HostCommand.RunDaemonizingAsync(
            [options.NsenterPath, "--net=" + netns, options.DnsmasqPath, "--conf-file=" + dnsmasqConf],
            Path.Combine(stateDirectory, "dnsmasq.out")).ConfigureAwait(false);
        var dnsmasq = HelperProcess.Open("dnsmasq", dnsmasqPid, s_dnsmasqExecutables, notBefore, out var why)
            ?? throw new SandboxException(SandboxErrorCode.Unavailable, $"dnsmasq of sandbox {id} did not stay up: {why}");
        rollback.Push(dnsmasq);

        var pastaPid = Path.Combine(stateDirectory, "pasta.pid");
        await HostCommand.RunDaemonizingAsync(
            PastaArguments.Build(options.PastaPath, netns, egress, published, pastaPid, Path.Combine(stateDirectory, "pasta.log")),
            Path.Combine(stateDirectory, "pasta.out")).ConfigureAwait(false);
        var pasta = HelperProcess.Open("pasta", pastaPid, s_pastaExecutables, notBefore, out why)
            ?? throw new SandboxException(SandboxErrorCode.Unavailable, $"pasta of sandbox {id} did not stay up: {why}");
        rollback.Push(pasta);

        rollback.Commit();
        return new SandboxNetwork(options, name, stateDirectory, ownerLock, pasta, dnsmasq, granted);
    }

    /// <summary>For a microVM: starts passt inside the namespace, serving the guest's virtio-net over a unix socket
    /// (QEMU's `-netdev stream`), and returns that socket's path (in the root-only state directory). passt's sockets
    /// live in the namespace, so the guest's traffic meets the same filter, resolver and pasta as a container's. It
    /// forwards the published ports' inside ends to the guest and quits when QEMU disconnects (--one-off). The
    /// gateway: without published ports passt leaves 10.0.2.2 alone (pasta maps it to the host's loopback when that
    /// was granted); with them passt must map it (a connection pasta splices in arrives from the namespace's loopback,
    /// which the guest can only see as the gateway), so a microVM cannot have both (InvalidArgument, before anything
    /// starts: see <see cref="CheckGuestStack"/>).</summary>
    public async Task<string> StartGuestStackAsync(string passtPath, IReadOnlyList<PublishedPort> published)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var socket = Path.Combine(_stateDirectory, "passt.sock");
        var pidFile = Path.Combine(_stateDirectory, "passt.pid");
        var notBefore = BootTicksNow();
        var argv = new List<string>
        {
            _options.NsenterPath, "--net=" + NetnsPath, passtPath,
            "--runas", "0", "--ipv4-only", "--one-off", "--socket", socket,
            "--address", SandboxAddresses.Sandbox.ToString(), "--netmask", SandboxAddresses.PrefixLength.ToString(),
            "--gateway", SandboxAddresses.Gateway.ToString(),
            "--no-dhcp", "--no-ndp", "--no-dhcpv6", "--no-ra", "--udp-ports", "none",
            "--pid", pidFile, "--log-file", Path.Combine(_stateDirectory, "passt.log"), "--quiet",
        };
        argv.AddRange(published.Count == 0
            ? ["--tcp-ports", "none", "--no-map-gw"]
            : ["--tcp-ports", string.Join(',', published.Select(p => p.Port).Distinct())]);
        await HostCommand.RunDaemonizingAsync(argv, Path.Combine(_stateDirectory, "passt.out")).ConfigureAwait(false);
        _passt = HelperProcess.Open("passt", pidFile, s_passtExecutables, notBefore, out var why)
            ?? throw new SandboxException(SandboxErrorCode.Unavailable, $"passt of {Name} did not stay up: {why}");
        return socket;
    }

    /// <summary>What a microVM's stack cannot do (see <see cref="StartGuestStackAsync"/>): published ports together with
    /// the host's loopback.</summary>
    public static void CheckGuestStack(IReadOnlyList<EgressRule> rules, IReadOnlyList<PublishedPort> published)
    {
        if (published.Count > 0 && rules.FirstOrDefault(r => r.IsHostLoopback) is { } loopback)
            throw new SandboxException(SandboxErrorCode.InvalidArgument,
                $"a microVM cannot have published ports ({string.Join(", ", published)}) and reach the host's loopback ({loopback}) at once; ask for one of them");
    }

    /// <summary>Takes back the network of a sandbox whose owner died (a restarted daemon re-attaching it): its state
    /// directory's lock and both helpers. Null, having touched nothing, when there is none or it is incomplete (then
    /// <see cref="ReclaimLeftoversAsync"/> removes it).</summary>
    public static SandboxNetwork? Adopt(NetworkOptions options, SandboxId id)
    {
        var stateDirectory = Path.Combine(options.StateDirectory, id.Value);
        if (!Directory.Exists(stateDirectory) || CgroupOwnerLock.TryTake(stateDirectory) is not { } ownerLock)
            return null;
        var pasta = HelperProcess.Open("pasta", Path.Combine(stateDirectory, "pasta.pid"), s_pastaExecutables, 0, out _);
        var dnsmasq = HelperProcess.Open("dnsmasq", Path.Combine(stateDirectory, "dnsmasq.pid"), s_dnsmasqExecutables, 0, out _);
        var name = NetworkOptions.NetnsPrefix + id.Value;
        if (pasta is null || dnsmasq is null || !File.Exists(Path.Combine(options.NetnsDirectory, name)))
        {
            pasta?.DisposeAsync().AsTask().GetAwaiter().GetResult();
            dnsmasq?.DisposeAsync().AsTask().GetAwaiter().GetResult();
            ownerLock.Dispose();
            return null;
        }
        var granted = File.Exists(Path.Combine(stateDirectory, "granted")) ? File.ReadAllLines(Path.Combine(stateDirectory, "granted")) : [];
        return new SandboxNetwork(options, name, stateDirectory, ownerLock, pasta, dnsmasq, granted);
    }

    /// <summary>Removes the networks whose owner is dead (their state directory's lock is free) and whose sandbox is
    /// not <paramref name="inUse"/>: helpers stopped, namespace deleted, directory removed. Namespaces named sandbox-*
    /// without a state directory are leftovers of a teardown cut short and are deleted too. Returns the sandbox ids
    /// reclaimed.</summary>
    public static async Task<IReadOnlyList<string>> ReclaimLeftoversAsync(NetworkOptions options, Func<SandboxId, bool> inUse)
    {
        var reclaimed = new List<string>();
        if (Directory.Exists(options.StateDirectory))
        {
            foreach (var dir in Directory.EnumerateDirectories(options.StateDirectory))
            {
                if (SandboxId.TryParse(Path.GetFileName(dir), out var used) && inUse(used))
                    continue;
                if (!SandboxId.TryParse(Path.GetFileName(dir), out var id) || Adopt(options, id) is not { } network)
                {
                    if (SandboxId.TryParse(Path.GetFileName(dir), out var gone) && CgroupOwnerLock.TryTake(dir) is { } orphanLock)
                    {
                        // Incomplete: no helper left to stop, or one not ours; the namespace and the directory go.
                        await KillListedHelpersAsync(dir).ConfigureAwait(false);
                        await DeleteNetnsAsync(options, NetworkOptions.NetnsPrefix + gone.Value).ConfigureAwait(false);
                        Directory.Delete(dir, recursive: true);
                        orphanLock.Dispose();
                        reclaimed.Add(gone.Value);
                    }
                    continue;
                }
                await network.DisposeAsync().ConfigureAwait(false);
                reclaimed.Add(id.Value);
            }
        }
        if (Directory.Exists(options.NetnsDirectory))
        {
            foreach (var file in Directory.EnumerateFiles(options.NetnsDirectory, NetworkOptions.NetnsPrefix + "*"))
            {
                var id = Path.GetFileName(file)[NetworkOptions.NetnsPrefix.Length..];
                if (!Directory.Exists(Path.Combine(options.StateDirectory, id)))
                {
                    await DeleteNetnsAsync(options, Path.GetFileName(file)).ConfigureAwait(false);
                    reclaimed.Add(id);
                }
            }
        }
        return reclaimed;
    }

    private static async Task KillListedHelpersAsync(string dir)
    {
        foreach (var (name, executables) in new[] { ("passt", s_passtExecutables), ("pasta", s_pastaExecutables), ("dnsmasq", s_dnsmasqExecutables) })
        {
            if (HelperProcess.Open(name, Path.Combine(dir, name + ".pid"), executables, 0, out _) is { } helper)
                await helper.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Stops pasta and dnsmasq, deletes the namespace and the state directory, then lets go of the lock.
    /// Idempotent; what could not be undone is thrown together at the end.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        List<Exception>? failures = null;
        if (_passt is not null)
            await _passt.DisposeAsync().ConfigureAwait(false);
        await _pasta.DisposeAsync().ConfigureAwait(false);
        await _dnsmasq.DisposeAsync().ConfigureAwait(false);
        try { await DeleteNetnsAsync(_options, Name).ConfigureAwait(false); }
        catch (Exception e) { (failures ??= []).Add(e); }
        try { Directory.Delete(_stateDirectory, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { (failures ??= []).Add(e); }
        _lock.Dispose();
        if (failures is not null)
            throw new AggregateException($"network {Name} was not torn down cleanly", failures);
    }

    /// <summary>`ip netns delete` detaches the namespace's mount and unlinks its file; the unlink fails (EBUSY) while a
    /// mount namespace being made at that moment elsewhere on the host (another sandbox's, a helper's) still holds a
    /// copy of that mount. Such a copy is short-lived, so a few tries over ~2 s; then the failure is the caller's.</summary>
    private static async Task DeleteNetnsAsync(NetworkOptions options, string name)
    {
        for (var attempt = 1; File.Exists(Path.Combine(options.NetnsDirectory, name)); attempt++)
        {
            try
            {
                await HostCommand.RunAsync([options.IpPath, "netns", "delete", name]).ConfigureAwait(false);
                return;
            }
            catch (SandboxException) when (attempt < 5)
            {
                await Task.Delay(100 * attempt).ConfigureAwait(false);
            }
        }
    }

    private static void CreatePrivateDirectory(string path)
    {
        Directory.CreateDirectory(path);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    /// <summary>Now, in the clock ticks since boot that /proc/PID/stat's start time uses (USER_HZ = 100 on Linux).</summary>
    private static ulong BootTicksNow()
    {
        var uptime = File.ReadAllText("/proc/uptime").Split(' ')[0];
        return (ulong)(double.Parse(uptime, CultureInfo.InvariantCulture) * 100) - 1;
    }
}
