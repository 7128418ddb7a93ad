using System.Collections.Concurrent;
using System.Security.Cryptography;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sandbox.AgentProtocol.V1;
using Sandbox.Isolation.Agent;
using Sandbox.Isolation.Container;
using Sandbox.Isolation.Cgroups;
using Sandbox.Isolation.MicroVm.Initramfs;
using Sandbox.Isolation.MicroVm.Kernel;

namespace Sandbox.Isolation.MicroVm;

/// <summary>
/// The microVM tier: every sandbox is a QEMU microvm machine with its own Linux kernel (Debian's, booted as an ELF
/// vmlinux through PVH) run in a jail as an unprivileged host uid of its own (<see cref="VmmJail"/>), the agent as the
/// guest's PID 1, the rootfs as read-only virtio-9p shares (host userland) or a read-only erofs disk (a directory), and
/// the agent protocol on a virtio-serial port. KVM where a probe boot proves it works, else TCG (reported, never silent).
/// </summary>
public sealed partial class MicroVmDriver : ISandboxDriver, ILeftoverReclaimer
{
    private readonly MicroVmOptions _options;
    private readonly CgroupLayout _cgroups;
    private readonly Lazy<AcceleratorProbe> _probe;
    private readonly SnapshotTemplates _templates;
    private readonly ConcurrentDictionary<string, (DateTimeOffset At, string Reason)> _templateFailures = new();
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Users.HostIdAllocator _uids;
    private readonly Lazy<QemuInstall> _qemuInstall;

    /// <param name="logger">What the tier decides on its own (template failures, cold boots); none when null.</param>
    /// <param name="time">The clock of the template retry interval; the system's when null.</param>
    public MicroVmDriver(MicroVmOptions? options = null, CgroupLayout? cgroups = null, ILogger<MicroVmDriver>? logger = null, TimeProvider? time = null)
    {
        _logger = logger ?? NullLogger<MicroVmDriver>.Instance;
        _time = time ?? TimeProvider.System;
        _options = options ?? new MicroVmOptions();
        _qemuInstall = new Lazy<QemuInstall>(() => QemuInstall.Locate(_options.QemuPath, checkOwner: true));
        _cgroups = cgroups ?? CgroupLayout.Host;
        _probe = new Lazy<AcceleratorProbe>(CreateProbe);
        _templates = new SnapshotTemplates(Path.Combine(_options.CacheDirectory, "templates"));
        _uids = new Users.HostIdAllocator(_options.HostUidBase, 1, _options.HostUidCount, _options.HostUidLockDirectory, "microVM host uid");
    }

    /// <summary>The QEMU this driver runs and what of its installation the jail holds; refused (the exception, every
    /// time) when its path has no known shape or someone other than root could replace it.</summary>
    private QemuInstall Qemu => _qemuInstall.Value;

    /// <summary>The snapshot template cache (CacheDirectory/templates).</summary>
    public SnapshotTemplates Templates => _templates;

    public SandboxTier Tier => SandboxTier.MicroVm;

    public MicroVmOptions Options => _options;

    public DriverCapabilities Capabilities => DriverCapabilities.Attach | DriverCapabilities.Pause | DriverCapabilities.CgroupStats | DriverCapabilities.ExitNotification
        | DriverCapabilities.OrchestratorNetwork;

    /// <summary>Static checks (QEMU, guest kernel, agent, cgroups), then the accelerator: a probe boot under KVM where
    /// KVM looks usable (once per process, cached on disk).</summary>
    public async Task<DriverAvailability> ProbeAsync(CancellationToken cancellationToken)
    {
        if (StaticProbe() is { } unavailable)
            return unavailable;
        var kernel = GuestKernel.Locate(_options.KernelCacheDirectory, _options.MinimalKernel);
        var accel = await ProbeAcceleratorAsync(cancellationToken).ConfigureAwait(false);
        return accel.Accelerator == Accelerator.Kvm
            ? new(true, $"QEMU microvm ({_options.QemuPath}), guest kernel {kernel.Version}, accel kvm: {accel.Reason}", Accelerator.Kvm)
            : new(_options.AllowTcg, $"QEMU microvm ({_options.QemuPath}), guest kernel {kernel.Version}, accel tcg{(_options.AllowTcg ? "" : " (not allowed)")}: {accel.Reason}",
                accel.Accelerator);
    }

    /// <summary>Why the tier cannot run here without booting anything; null when it may.</summary>
    private DriverAvailability? StaticProbe()
    {
        if (!File.Exists(_options.QemuPath))
            return new(false, $"QEMU not found at {_options.QemuPath} (apt-get install qemu-system-x86)");
        try
        {
            _ = _qemuInstall.Value;
        }
        catch (SandboxException e)
        {
            return new(false, e.Message);
        }
        GuestKernel kernel;
        try
        {
            kernel = GuestKernel.Locate(_options.KernelCacheDirectory, _options.MinimalKernel);
        }
        catch (SandboxException e)
        {
            return new(false, e.Message);
        }
        if (AgentBundle.TryLocate(_options.AgentDirectory) is null)
            return new(false, "the sandbox agent was not found (scripts/build-agent.sh)");
        if (_cgroups.Version == CgroupVersion.None)
            return new(false, "no usable cgroup controllers (memory, pids) for the QEMU processes");
        return null;
    }

    /// <summary>The accelerator this host gives microVMs, with the reason (a probe boot when KVM looks usable).</summary>
    public Task<AcceleratorProbeResult> ProbeAcceleratorAsync(CancellationToken cancellationToken) => _probe.Value.RunAsync(cancellationToken);

    public async Task<ExitStatus> RunAsync(SandboxSpec spec, ProcessSpec process, ProcessIO io, CancellationToken cancellationToken)
    {
        SpecValidator.Validate(process);
        await using var sandbox = await CreateAsync(spec, cancellationToken).ConfigureAwait(false);
        return await sandbox.ExecToExitAsync(process, io, cancellationToken).ConfigureAwait(false);
    }

    public async Task<ISandbox> CreateAsync(SandboxSpec spec, CancellationToken cancellationToken)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        SpecValidator.Validate(spec);
        if (spec.Network == NetworkMode.Egress)
            Network.SandboxNetwork.CheckGuestStack(spec.EgressAllow, spec.PublishedPorts);
        // A microVM joins no sandbox's network namespace (its network is its own machine's); an orchestrator's it takes
        // over through a tap (below).
        var podNetns = spec.NetworkOf switch
        {
            null => null,
            Network.NetworkNamespaceFile netns => netns,
            _ => throw new SandboxException(SandboxErrorCode.FailedPrecondition,
                "a microVM cannot join another sandbox's network namespace: only an orchestrator's (CNI pod networking)"),
        };
        var accel = await ProbeAcceleratorAsync(cancellationToken).ConfigureAwait(false);
        if (accel.Accelerator != Accelerator.Kvm)
        {
            if (spec.RequireHardwareVirtualization)
                throw new SandboxException(SandboxErrorCode.FailedPrecondition,
                    $"the spec requires hardware virtualization but only TCG (software emulation) is available here: {accel.Reason}");
            if (!_options.AllowTcg)
                throw new SandboxException(SandboxErrorCode.Unavailable, $"KVM is unusable here ({accel.Reason}) and TCG is not allowed");
        }
        var kernel = GuestKernel.Locate(_options.KernelCacheDirectory, _options.MinimalKernel);
        var bundle = AgentBundle.Locate(_options.AgentDirectory);
        var layout = GuestRootfs.Build(spec.Rootfs, spec.WorkDir, _options.GuestUid, _options.CacheDirectory, _options.MkfsErofsPath);
        if (spec.HostsPod)
            layout = layout with { Shares = [.. layout.Shares, PodShare.For(StateDirectoryOf(spec.Id))] };
        var hostMounts = HostMountShares.For(spec.HostMounts, StateDirectoryOf(spec.Id));
        layout = layout with { Shares = [.. layout.Shares, .. hostMounts.Shares] };
        var initrd = InitramfsImage.GetOrBuild(_options.CacheDirectory, kernel, bundle,
            layout.Features | (spec.Network == NetworkMode.Egress || podNetns is not null ? GuestFeatures.Network : 0) | (spec.HostsPod ? GuestFeatures.Pod : 0));
        var guestRamMiB = GuestRamMiB(spec.Limits);
        var seccomp = SeccompPrograms.Get(spec.SyscallProfile, spec.ExtraSyscalls, spec.NarrowingSyscallProfile);

        await using var rollback = new RollbackStack();
        var persistent = !spec.DieWithOwner;
        // Egress: the same network as a container's (namespace, filter, resolver, pasta), with passt inside it serving the
        // guest's virtio-net over a unix socket. It is made before QEMU (which connects to it at start) and given to the
        // VM's host uid once that is allocated (StartJailedAsync binds it into the jail). Such a VM cold-boots: a snapshot
        // template has no network device.
        Network.SandboxNetwork? network = null;
        string? networkSocket = null;
        if (spec.Network == NetworkMode.Egress)
        {
            network = await Network.SandboxNetwork.CreateAsync(_options.Network, spec.Id, spec.EgressAllow, spec.PublishedPorts, cancellationToken)
                .ConfigureAwait(false);
            rollback.Push(network);
            networkSocket = await network.StartGuestStackAsync(_options.Network.PasstPath, spec.PublishedPorts).ConfigureAwait(false);
        }
        // A CNI pod (an orchestrator's namespace the policy granted): a tap in that namespace joined to CNI's interface,
        // given to QEMU as a descriptor; the guest's eth0 takes the interface's MAC, address, route and MTU. QEMU stays
        // in its jail's empty namespace; the host's network is never the VM's (NetworkNamespaceFile refuses it).
        Network.PodNetworkTap? podTap = null;
        if (podNetns is not null)
        {
            podTap = await Network.PodNetworkTap.CreateAsync(_options.Network, podNetns, _options.Network.TcPath).ConfigureAwait(false);
            rollback.Push(podTap);
        }
        // Built when it is sent (the guest's clock is set from it): right behind the VM's readiness ping.
        SetupGuestRequest NewSetup()
        {
            var setup = RootSetup(layout, spec.WorkDir);
            setup.DiskBytes = spec.Limits.DiskMiB << 20;
            setup.Hostname = spec.Hostname;
            setup.RandomSeed = ByteString.CopyFrom(RandomNumberGenerator.GetBytes(64));
            setup.UnixTimeNs = (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks * 100;
            setup.MemoryBytes = spec.Limits.MemoryMiB << 20;
            setup.PidsMax = spec.Limits.PidsMax;
            setup.CpuQuotaUsec = spec.Limits.Cpus > 0 ? CgroupFactory.CpuQuotaMicroseconds(spec.Limits.Cpus) : 0;
            // Any user of the spec, root included: guest root is the VM's, with the few capabilities the guest agent leaves
            // it (docs/security.md); every other uid has none.
            setup.Uid = (uint)(spec.User?.Uid ?? _options.GuestUid);
            setup.Gid = (uint)(spec.User?.Gid ?? _options.GuestUid);
            setup.SurviveHostDisconnect = persistent;
            setup.SeccompProgram = ByteString.CopyFrom(seccomp.ToBytes());
            setup.AllowNestedUserNamespaces = spec.AllowNestedUserNamespaces;
            if (spec.HostsPod)
                setup.PodShare = PodShare.Tag;
            setup.HostMounts.Add(hostMounts.Guest);
            setup.ScratchMounts.Add(spec.ScratchMounts.Select(m => new GuestScratchMount
            {
                Path = m.Destination, SizeBytes = m.SizeBytes, Mode = (uint)m.Mode, ReadOnly = m.ReadOnly, NoExec = m.NoExec,
            }));
            if (network is not null)
            {
                setup.Network = new GuestNetwork
                {
                    Address = Network.SandboxAddresses.Sandbox.ToString(),
                    PrefixLength = Network.SandboxAddresses.PrefixLength,
                    Gateway = Network.SandboxAddresses.Gateway.ToString(),
                    ResolvConf = Network.SandboxAddresses.ResolvConf,
                };
            }
            else if (podTap?.Interface is { } pod)
            {
                // The pod's resolver is the orchestrator's business (CRI's resolv.conf is a host file, left out): none set.
                setup.Network = new GuestNetwork
                {
                    Address = pod.Address.ToString(),
                    PrefixLength = (uint)pod.PrefixLength,
                    Gateway = pod.Gateway.ToString(),
                    Mtu = (uint)pod.Mtu,
                };
            }
            return setup;
        }
        // A pod's VM cold-boots too, as one with host mounts: its pod share (or their shares) are devices no template has,
        // and the guest mounts them at set-up; so does one on a CNI pod's tap, and one with tmpfs mounts (a clone's root
        // is the template's, read-only: no mount point could be made in it).
        var (vm, template) = networkSocket is null && podTap is null && !spec.HostsPod && spec.HostMounts.Count == 0 && spec.ScratchMounts.Count == 0
            ? await StartAsync(spec.Id, accel.Accelerator, kernel, initrd, guestRamMiB, layout, spec.WorkDir, persistent, cancellationToken,
                agent => agent.SetupGuestAsync(NewSetup(), cancellationToken)).ConfigureAwait(false)
            : (await BootAsync(spec.Id, accel.Accelerator, kernel, initrd, guestRamMiB, layout, null, _options.BootTimeout, cancellationToken,
                persistent, networkSocket, podTap, agent => agent.SetupGuestAsync(NewSetup(), cancellationToken)).ConfigureAwait(false), null);
        rollback.Push(vm);
        await AgentCalls.RunAsync(() => vm.PendingSetUp ?? vm.Agent.SetupGuestAsync(NewSetup(), cancellationToken), vm.Console.ToString)
            .ConfigureAwait(false);
        RecordStart(vm, clock);

        rollback.Commit();
        return new MicroVmSandbox(vm, spec, Info(spec, accel.Accelerator, seccomp.Sha256, vm.HostUid) with { Egress = network?.Granted ?? [] },
            template, accel.Accelerator, network, podTap) { PodOptions = spec.HostsPod ? _options : null };
    }

    /// <summary>The VM's start timeline on the clock of CreateAsync: what came before QEMU's boot (template lookup or
    /// build, jail set-up), the boot's own stages, and the set-up call.</summary>
    private static void RecordStart(MicroVmInstance vm, System.Diagnostics.Stopwatch clock)
    {
        var now = clock.Elapsed;
        var offset = now - vm.StartClock.Elapsed;
        var stages = vm.HostTimeline.Select(s => (s.Stage, s.At + offset)).ToList();
        vm.HostTimeline.Clear();
        vm.HostTimeline.Add(("boot-start", offset));
        vm.HostTimeline.AddRange(stages);
        vm.HostTimeline.Add(("guest-set-up", now));
        vm.GuestPingAt += offset;
    }

    /// <summary>The part of a guest's set-up that makes its root: the layout's mounts, block devices and symlinks, and
    /// the writable tmpfs dirs (/tmp, the work dir). A template's root and each clone's must be equal.</summary>
    private static SetupGuestRequest RootSetup(GuestRootfs.Layout layout, string workDir)
    {
        var setup = new SetupGuestRequest();
        setup.Mounts.AddRange(layout.Mounts);
        setup.BlockDevices.AddRange(layout.BlockDevices);
        setup.Symlinks.AddRange(layout.Symlinks);
        setup.WritableDirs.AddRange(["/tmp", workDir]);
        return setup;
    }

    /// <summary>The seccomp profile is the guest's: every workload process starts under it inside the VM.</summary>
    internal static SandboxInfo Info(SandboxSpec spec, Accelerator accelerator, string seccompDigest, int hostUid) => new()
    {
        Id = spec.Id,
        Tier = SandboxTier.MicroVm,
        Accelerator = accelerator,
        Namespaces = [],
        SyscallProfile = spec.SyscallProfile,
        SeccompDigest = seccompDigest,
        Limits = spec.Limits,
        HostUid = hostUid,
        CgroupPath = null,
    };

    /// <summary>The VM's own directory for its sockets: {StateDirectory}/{id}, 0700, under a 0700 parent.</summary>
    private string StateDirectoryOf(SandboxId id) => Path.Combine(_options.StateDirectory, id.Value);

    private string NewStateDirectory(SandboxId id)
    {
        Directory.CreateDirectory(_options.StateDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return StateDirectoryOf(id);
    }

    /// <summary>The guest's RAM: the sandbox's memory limit (its workload cgroup's memory.max) plus room for the
    /// guest kernel and the agent.</summary>
    public long GuestRamMiB(ResourceLimits limits) => limits.MemoryMiB + _options.GuestOverheadMiB;

    private AcceleratorProbe CreateProbe()
    {
        var qemu = new FileInfo(_options.QemuPath);
        string kernelVersion;
        try
        {
            kernelVersion = GuestKernel.Locate(_options.KernelCacheDirectory, _options.MinimalKernel).Version;
        }
        catch (SandboxException)
        {
            kernelVersion = "none";
        }
        var key = $"v1 host={Environment.OSVersion.Version} {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()} " +
            $"qemu={_options.QemuPath}:{qemu.Length}:{(qemu.Exists ? qemu.LastWriteTimeUtc.Ticks : 0)} guest={kernelVersion} kvm={File.Exists("/dev/kvm")}";
        return new AcceleratorProbe(async (timeout, ct) =>
        {
            var kernel = GuestKernel.Locate(_options.KernelCacheDirectory, _options.MinimalKernel);
            var initrd = InitramfsImage.GetOrBuild(_options.CacheDirectory, kernel, AgentBundle.Locate(_options.AgentDirectory), GuestFeatures.None);
            await using var vm = await BootAsync(SandboxId.New(), Accelerator.Kvm, kernel, initrd, 256, new GuestRootfs.Layout([], [], []), null, timeout, ct)
                .ConfigureAwait(false);
        }, Path.Combine(_options.CacheDirectory, "accel-probe"), key, _options.KvmProbeTimeout);
    }
}
