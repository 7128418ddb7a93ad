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
/// vmlinux through PVH), the agent as the guest's PID 1, the rootfs as read-only virtio-9p shares, and the agent
/// protocol on a virtio-serial port. KVM where a probe boot proves it works, else TCG (reported, never silent).
/// </summary>
public sealed class MicroVmDriver : ISandboxDriver, ILeftoverReclaimer
{
    private readonly MicroVmOptions _options;
    private readonly CgroupLayout _cgroups;
    private readonly Lazy<AcceleratorProbe> _probe;
    private readonly SnapshotTemplates _templates;
    private readonly ConcurrentDictionary<string, (DateTimeOffset At, string Reason)> _templateFailures = new();
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly HostUidAllocator _uids;

    /// <param name="logger">What the tier decides on its own (template failures, cold boots); none when null.</param>
    /// <param name="time">The clock of the template retry interval; the system's when null.</param>
    public MicroVmDriver(MicroVmOptions? options = null, CgroupLayout? cgroups = null, ILogger<MicroVmDriver>? logger = null, TimeProvider? time = null)
    {
        _logger = logger ?? NullLogger<MicroVmDriver>.Instance;
        _time = time ?? TimeProvider.System;
        _options = options ?? new MicroVmOptions();
        _cgroups = cgroups ?? CgroupLayout.Host;
        _probe = new Lazy<AcceleratorProbe>(CreateProbe);
        _templates = new SnapshotTemplates(Path.Combine(_options.CacheDirectory, "templates"));
        _uids = new HostUidAllocator(_options.HostUidBase, _options.HostUidCount, _options.HostUidLockDirectory);
    }

    /// <summary>The snapshot template cache (CacheDirectory/templates).</summary>
    public SnapshotTemplates Templates => _templates;

    public SandboxTier Tier => SandboxTier.MicroVm;

    public MicroVmOptions Options => _options;

    public IReadOnlyList<SandboxId> ListLeftovers() => CgroupFactory.List(_cgroups, _options.CgroupParent);

    /// <summary>Kills a microVM this process lost track of (its QEMU and anything else in its host cgroup), removes
    /// the cgroup and its state directory; false when nothing was left.</summary>
    public async Task<bool> ReclaimAsync(SandboxId id, CancellationToken cancellationToken)
    {
        var directory = StateDirectoryOf(id);
        var found = Directory.Exists(directory);
        if (CgroupFactory.Open(_cgroups, _options.CgroupParent, id) is { } cgroup)
        {
            await cgroup.DisposeAsync().ConfigureAwait(false);
            found = true;
        }
        if (Directory.Exists(directory))
            Directory.Delete(directory, recursive: true);
        return found;
    }

    public DriverCapabilities Capabilities => DriverCapabilities.Attach | DriverCapabilities.Pause | DriverCapabilities.CgroupStats | DriverCapabilities.ExitNotification;

    /// <summary>Static checks (QEMU, guest kernel, agent, cgroups), then the accelerator: a probe boot under KVM where
    /// KVM looks usable (once per process, cached on disk).</summary>
    public async Task<DriverAvailability> ProbeAsync(CancellationToken cancellationToken)
    {
        if (StaticProbe() is { } unavailable)
            return unavailable;
        var kernel = GuestKernel.Locate(_options.KernelCacheDirectory);
        var accel = await ProbeAcceleratorAsync(cancellationToken).ConfigureAwait(false);
        return accel.Accelerator == Accelerator.Kvm
            ? new(true, $"QEMU microvm, guest kernel {kernel.Version}, accel kvm: {accel.Reason}", Accelerator.Kvm)
            : new(_options.AllowTcg, $"QEMU microvm, guest kernel {kernel.Version}, accel tcg{(_options.AllowTcg ? "" : " (not allowed)")}: {accel.Reason}",
                accel.Accelerator);
    }

    /// <summary>Removes the state directories of VMs not in <paramref name="keep"/> (what a killed owner left of VMs
    /// that are gone, and of its template builds). Only for a start-up: a VM this process runs must be in the set.</summary>
    public int RemoveStaleFiles(IReadOnlySet<SandboxId> keep)
    {
        if (!Directory.Exists(_options.StateDirectory))
            return 0;
        var removed = 0;
        foreach (var dir in Directory.EnumerateDirectories(_options.StateDirectory))
        {
            if (SandboxId.TryParse(Path.GetFileName(dir), out var id) && keep.Contains(id))
                continue;
            Directory.Delete(dir, recursive: true);
            removed++;
        }
        return removed;
    }

    /// <summary>Why the tier cannot run here without booting anything; null when it may.</summary>
    private DriverAvailability? StaticProbe()
    {
        if (!File.Exists(_options.QemuPath))
            return new(false, $"QEMU not found at {_options.QemuPath} (apt-get install qemu-system-x86)");
        GuestKernel kernel;
        try
        {
            kernel = GuestKernel.Locate(_options.KernelCacheDirectory);
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
        var p = await sandbox.ExecAsync(process, io, cancellationToken).ConfigureAwait(false);
        return await p.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<ISandbox> CreateAsync(SandboxSpec spec, CancellationToken cancellationToken)
    {
        SpecValidator.Validate(spec);
        // Never a silent downgrade to no network: egress is refused until the guest is attached to the same stack.
        if (spec.Network == NetworkMode.Egress)
            throw new SandboxException(SandboxErrorCode.Unavailable,
                "the microVM tier does not offer network mode egress yet (the container tier does; docs/network.md)");
        var accel = await ProbeAcceleratorAsync(cancellationToken).ConfigureAwait(false);
        if (accel.Accelerator != Accelerator.Kvm)
        {
            if (spec.RequireHardwareVirtualization)
                throw new SandboxException(SandboxErrorCode.FailedPrecondition,
                    $"the spec requires hardware virtualization but only TCG (software emulation) is available here: {accel.Reason}");
            if (!_options.AllowTcg)
                throw new SandboxException(SandboxErrorCode.Unavailable, $"KVM is unusable here ({accel.Reason}) and TCG is not allowed");
        }
        var kernel = GuestKernel.Locate(_options.KernelCacheDirectory);
        var bundle = AgentBundle.Locate(_options.AgentDirectory);
        var initrd = InitramfsImage.GetOrBuild(_options.CacheDirectory, kernel, bundle);
        var layout = GuestRootfs.Build(spec.Rootfs, spec.WorkDir, _options.GuestUid, _options.CacheDirectory, _options.MkfsErofsPath);
        var guestRamMiB = GuestRamMiB(spec.Limits);
        var seccomp = SeccompPrograms.Get(spec.SyscallProfile, spec.ExtraSyscalls);

        await using var rollback = new RollbackStack();
        var persistent = !spec.DieWithOwner;
        var (vm, template) = await StartAsync(spec.Id, accel.Accelerator, kernel, initrd, guestRamMiB, layout, persistent, cancellationToken)
            .ConfigureAwait(false);
        rollback.Push(vm);
        var setup = new SetupGuestRequest
        {
            DiskBytes = spec.Limits.DiskMiB << 20,
            Hostname = spec.Hostname,
            RandomSeed = ByteString.CopyFrom(RandomNumberGenerator.GetBytes(64)),
            UnixTimeNs = (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks * 100,
            MemoryBytes = spec.Limits.MemoryMiB << 20,
            PidsMax = spec.Limits.PidsMax,
            CpuQuotaUsec = spec.Limits.Cpus > 0 ? CgroupFactory.CpuQuotaMicroseconds(spec.Limits.Cpus) : 0,
            Uid = (uint)_options.GuestUid,
            Gid = (uint)_options.GuestUid,
            SurviveHostDisconnect = persistent,
            SeccompProgram = ByteString.CopyFrom(seccomp.ToBytes()),
            AllowNestedUserNamespaces = spec.AllowNestedUserNamespaces,
        };
        setup.Mounts.AddRange(layout.Mounts);
        setup.BlockDevices.AddRange(layout.BlockDevices);
        setup.Symlinks.AddRange(layout.Symlinks);
        setup.WritableDirs.AddRange(["/tmp", spec.WorkDir]);
        AgentCalls.Diagnostics.Value = vm.Console.ToString;
        await AgentCalls.RunAsync(() => vm.Agent.SetupGuestAsync(setup, cancellationToken)).ConfigureAwait(false);

        rollback.Commit();
        return new MicroVmSandbox(vm, spec, Info(spec, accel.Accelerator, seccomp.Sha256, vm.HostUid), template, accel.Accelerator);
    }

    /// <summary>Takes back a VM an earlier owner created with <see cref="SandboxSpec.DieWithOwner"/> = false: the
    /// same QEMU (pid and start time) in the VM's cgroup, reconnected over its state directory's sockets, its agent
    /// answering. Whatever is left of a VM that cannot be taken back is killed and removed, and a SandboxException
    /// NOT_FOUND / UNAVAILABLE says why.</summary>
    public async Task<ISandbox> AttachAsync(SandboxId id, SandboxAttachment attachment, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(attachment);
        MicroVmAttachment record;
        try
        {
            record = MicroVmAttachment.From(id, attachment);
        }
        catch (SandboxException) when (attachment.Tier == SandboxTier.MicroVm)
        {
            await ReclaimAsync(id, cancellationToken).ConfigureAwait(false);
            throw;
        }
        // Only ever the directory this driver would have made for the id: a record naming another path is not followed.
        var directory = StateDirectoryOf(id);
        if (record.StateDirectory != directory)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"sandbox {id}: state directory {record.StateDirectory} is not {directory}");
        // The VM's host uid is this process's again (a VM started before QEMU was jailed has none: root-run QEMU).
        var hostUid = record.HostUid ?? 0;
        if (hostUid > 0 && !_uids.Reserve(hostUid))
        {
            await ReclaimAsync(id, cancellationToken).ConfigureAwait(false);
            throw new SandboxException(SandboxErrorCode.Unavailable, $"sandbox {id}: its host uid {hostUid} is held by another process; the VM was reclaimed");
        }
        MicroVmInstance? vm;
        try
        {
            vm = await MicroVmInstance.AttachAsync(id, directory, hostUid, record.QemuPid, record.QemuStartTime, record.GuestKernel, _cgroups,
                _options.CgroupParent, _options.AttachTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (SandboxException)
        {
            await ReclaimAsync(id, CancellationToken.None).ConfigureAwait(false);
            if (hostUid > 0) _uids.Release(hostUid);
            throw;
        }
        if (vm is null)
        {
            if (hostUid > 0) _uids.Release(hostUid);
            await ReclaimAsync(id, cancellationToken).ConfigureAwait(false);
            throw new SandboxException(SandboxErrorCode.NotFound, $"sandbox {id} is not running any more (its QEMU {record.QemuPid} is gone)");
        }
        var spec = new SandboxSpec
        {
            Id = id,
            Limits = record.Limits,
            Env = record.Env,
            WorkDir = record.WorkDir,
            Hostname = record.Hostname,
            DieWithOwner = false,
            SyscallProfile = record.SyscallProfile ?? "none",
        };
        if (hostUid > 0)
            vm.ReleaseHostUid = () => _uids.Release(hostUid);
        return new MicroVmSandbox(vm, spec, Info(spec, record.Accelerator, record.SeccompDigest ?? "", hostUid), record.Template, record.Accelerator);
    }

    /// <summary>The seccomp profile is the guest's: every workload process starts under it inside the VM.</summary>
    private static SandboxInfo Info(SandboxSpec spec, Accelerator accelerator, string seccompDigest, int hostUid) => new()
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

    /// <summary>Builds (or finds) the snapshot template the sandboxes of this spec would restore from; progress and
    /// the outcome go to <paramref name="progress"/>. For `sandbox template build` and ahead-of-time warm-up.</summary>
    public async Task<SnapshotTemplate> BuildTemplateAsync(SandboxSpec spec, Action<string>? progress, CancellationToken cancellationToken)
    {
        SpecValidator.Validate(spec);
        var accel = await ProbeAcceleratorAsync(cancellationToken).ConfigureAwait(false);
        var kernel = GuestKernel.Locate(_options.KernelCacheDirectory);
        var initrd = InitramfsImage.GetOrBuild(_options.CacheDirectory, kernel, AgentBundle.Locate(_options.AgentDirectory));
        var layout = GuestRootfs.Build(spec.Rootfs, spec.WorkDir, _options.GuestUid, _options.CacheDirectory, _options.MkfsErofsPath);
        var ramMiB = GuestRamMiB(spec.Limits);
        var (key, identity) = TemplateKey(accel.Accelerator, kernel, initrd, ramMiB, layout);
        if (_templates.TryGet(key) is { } existing)
        {
            progress?.Invoke($"template {key} is already built: {existing.Directory}");
            return existing;
        }
        progress?.Invoke($"building template {key} (accel {accel.Accelerator}, {ramMiB} MiB, {_options.VCpus} vCPU): booting the guest...");
        var template = await _templates.GetOrBuildAsync(key, identity,
            (dir, ct) => BuildTemplateIntoAsync(dir, accel.Accelerator, kernel, initrd, ramMiB, layout, progress, ct),
            _options.BootTimeout * 2, cancellationToken).ConfigureAwait(false);
        progress?.Invoke($"template {key} ready: {template.Directory}");
        return template;
    }

    /// <summary>A VM for a sandbox: restored from the snapshot template of its exact machine (built on first use,
    /// under the template's lock) or, when the template cannot be built, cold-booted with the reason logged.</summary>
    private async Task<(MicroVmInstance Vm, string? Template)> StartAsync(SandboxId id, Accelerator accel, GuestKernel kernel, string initrd,
        long ramMiB, GuestRootfs.Layout layout, bool persistent, CancellationToken cancellationToken)
    {
        if (_options.SnapshotTemplates)
        {
            var (key, identity) = TemplateKey(accel, kernel, initrd, ramMiB, layout);
            var template = _templates.TryGet(key);
            if (template is null && !RecentlyFailed(key))
            {
                try
                {
                    template = await _templates.GetOrBuildAsync(key, identity,
                        (dir, ct) => BuildTemplateIntoAsync(dir, accel, kernel, initrd, ramMiB, layout, null, ct),
                        _options.BootTimeout * 2, cancellationToken).ConfigureAwait(false);
                    if (_templates.Prune(_options.TemplateMaxIdle, keep: key) is > 0 and var pruned)
                        MicroVmDriverLog.TemplatesPruned(_logger, pruned, Math.Round(_options.TemplateMaxIdle.TotalDays, 1));
                }
                catch (Exception e) when ((e is SandboxException or IOException or UnauthorizedAccessException) && !cancellationToken.IsCancellationRequested)
                {
                    _templateFailures[key] = (_time.GetUtcNow(), e.Message);
                    MicroVmDriverLog.TemplateBuildFailed(_logger, key, e.Message);
                }
            }
            if (template is not null)
            {
                _templates.Touch(template);
                try
                {
                    var vm = await RestoreAsync(id, template, accel, kernel, initrd, ramMiB, layout, persistent, cancellationToken).ConfigureAwait(false);
                    return (vm, template.Key);
                }
                catch (SnapshotRestoreException e) when (!cancellationToken.IsCancellationRequested)
                {
                    // A template that cannot be restored (damaged files, a QEMU that changed in place) must not fail
                    // every later sandbox: it is moved aside (clones running from it keep their mappings) and the next
                    // sandbox builds it anew. This one fails, loudly.
                    MicroVmDriverLog.TemplateDiscarded(_logger, template.Key, e.Message);
                    _templates.Discard(template);
                    throw;
                }
            }
        }
        return (await BootAsync(id, accel, kernel, initrd, ramMiB, layout, null, _options.BootTimeout, cancellationToken, persistent).ConfigureAwait(false), null);
    }

    private bool RecentlyFailed(string key)
    {
        if (!_templateFailures.TryGetValue(key, out var failure)) return false;
        var since = _time.GetUtcNow() - failure.At;
        if (since < _options.TemplateRetryInterval)
        {
            MicroVmDriverLog.TemplateRecentlyFailed(_logger, key, Math.Round(since.TotalSeconds), failure.Reason);
            return true;
        }
        _templateFailures.TryRemove(key, out _);
        return false;
    }

    private (string Key, string Identity) TemplateKey(Accelerator accel, GuestKernel kernel, string initrd, long ramMiB, GuestRootfs.Layout layout)
    {
        var identity = CommandLine(accel, kernel, initrd, ramMiB, layout, null, "/qmp.sock", "/agent.sock").Identity();
        return (SnapshotTemplates.KeyFor(identity, [_options.QemuPath, kernel.VmlinuxPath, initrd]), identity);
    }

    /// <summary>Boots the template machine with its RAM in a shared file, waits for the agent (before SetupGuest: no
    /// share is mounted, which would block migration), and saves the device state next to the RAM file. The RAM file
    /// is made before QEMU starts, writable by every VM's uid: QEMU 7.2 opens it read-write even to map it private. It
    /// is reachable only through the jails' binds (the template directory is root's 0700).</summary>
    private async Task BuildTemplateIntoAsync(string directory, Accelerator accel, GuestKernel kernel, string initrd, long ramMiB,
        GuestRootfs.Layout layout, Action<string>? progress, CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var ram = Path.Combine(directory, "ram");
        File.WriteAllBytes(ram, []);
        File.SetUnixFileMode(ram, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite
            | UnixFileMode.OtherRead | UnixFileMode.OtherWrite);
        await using var vm = await BootAsync(SandboxId.New(), accel, kernel, initrd, ramMiB, layout,
            new RamFile(ram, Shared: true), _options.BootTimeout, cancellationToken).ConfigureAwait(false);
        progress?.Invoke($"guest ready after {started.Elapsed.TotalSeconds:0.00} s; saving the device state...");
        await vm.SaveSnapshotAsync(Path.Combine(directory, "state"), cancellationToken).ConfigureAwait(false);
        progress?.Invoke($"saved after {started.Elapsed.TotalSeconds:0.00} s");
    }

    private Task<MicroVmInstance> RestoreAsync(SandboxId id, SnapshotTemplate template, Accelerator accel, GuestKernel kernel, string initrd,
        long ramMiB, GuestRootfs.Layout layout, bool persistent, CancellationToken cancellationToken) =>
        StartJailedAsync(id, accel, kernel, initrd, layout, new RamFile(template.RamPath, Shared: false), persistent,
            (qmp, agent) => CommandLine(accel, kernel, initrd, ramMiB, layout, new RamFile(template.RamPath, Shared: false), qmp, agent)
                with { IncomingDefer = true, ReconnectSeconds = persistent ? 1 : 0 },
            HostLimits(ramMiB), _options.BootTimeout, cancellationToken, template.StatePath);

    /// <summary>The guest's RAM: the sandbox's memory limit (its workload cgroup's memory.max) plus room for the
    /// guest kernel and the agent.</summary>
    public long GuestRamMiB(ResourceLimits limits) => limits.MemoryMiB + _options.GuestOverheadMiB;

    private Task<MicroVmInstance> BootAsync(SandboxId id, Accelerator accel, GuestKernel kernel, string initrd, long ramMiB,
        GuestRootfs.Layout layout, RamFile? ram, TimeSpan timeout, CancellationToken cancellationToken, bool persistent = false) =>
        StartJailedAsync(id, accel, kernel, initrd, layout, ram, persistent,
            (qmp, agent) => CommandLine(accel, kernel, initrd, ramMiB, layout, ram, qmp, agent) with { ReconnectSeconds = persistent ? 1 : 0 },
            HostLimits(ramMiB), timeout, cancellationToken);

    /// <summary>Starts QEMU in its jail (<see cref="VmmJail"/>) as a host uid of its own, held until the VM is gone;
    /// the jail holds exactly the files this VM uses, and the root image (if any) goes in as a descriptor.</summary>
    private async Task<MicroVmInstance> StartJailedAsync(SandboxId id, Accelerator accel, GuestKernel kernel, string initrd,
        GuestRootfs.Layout layout, RamFile? ram, bool persistent, Func<string, string, QemuCommandLine> commandLine, ResourceLimits hostLimits,
        TimeSpan timeout, CancellationToken cancellationToken, string? restoreStatePath = null)
    {
        var directory = NewStateDirectory(id);
        var binds = new List<JailBind> { new(kernel.VmlinuxPath), new(initrd), new(directory, Writable: true) };
        binds.AddRange(layout.Shares.Select(share => new JailBind(share.HostPath)));
        if (ram is not null)
            binds.Add(new JailBind(ram.Path, Writable: true));
        var hostUid = _uids.Allocate();
        try
        {
            var jail = new VmmJail
            {
                BwrapPath = _options.BwrapPath,
                SetprivPath = _options.SetprivPath,
                HostUid = hostUid,
                Binds = binds,
                DieWithParent = !persistent,
                KvmGroup = accel == Accelerator.Kvm ? KvmGroup() : null,
            };
            using var image = layout.Image is null ? null : File.OpenHandle(layout.Image.Path, FileMode.Open, FileAccess.Read);
            var vm = await MicroVmInstance.BootAsync(id, directory, commandLine, jail, image, hostLimits, _cgroups, _options.CgroupParent, timeout,
                cancellationToken, restoreStatePath).ConfigureAwait(false);
            vm.ReleaseHostUid = () => _uids.Release(hostUid);
            return vm;
        }
        catch
        {
            _uids.Release(hostUid);
            throw;
        }
    }

    /// <summary>The group of /dev/kvm (Debian: "kvm"), which a jailed QEMU joins to open it.</summary>
    private static int KvmGroup()
    {
        foreach (var line in File.ReadLines("/etc/group"))
        {
            var fields = line.Split(':');
            if (fields.Length >= 3 && fields[0] == "kvm" && int.TryParse(fields[2], out var gid))
                return gid;
        }
        throw new SandboxException(SandboxErrorCode.Unavailable, "no kvm group in /etc/group: a jailed QEMU could not open /dev/kvm");
    }

    private ResourceLimits HostLimits(long ramMiB) => new()
    {
        MemoryMiB = ramMiB + _options.QemuOverheadMiB,
        PidsMax = 64 + 4 * _options.VCpus,
        Cpus = 0,
    };

    private QemuCommandLine CommandLine(Accelerator accel, GuestKernel kernel, string initrd, long ramMiB, GuestRootfs.Layout layout,
        RamFile? ram, string qmp, string agent)
    {
        var cmdline = QemuCommandLine.TunedKernelCommandLine(accel, accel == Accelerator.Tcg ? QemuCommandLine.HostTscKHz() : 0);
        return new QemuCommandLine
        {
            QemuPath = _options.QemuPath,
            Accelerator = accel,
            MemoryMiB = ramMiB,
            VCpus = _options.VCpus,
            KernelPath = kernel.VmlinuxPath,
            InitrdPath = initrd,
            KernelCommandLine = cmdline,
            AgentSocketPath = agent,
            QmpSocketPath = qmp,
            Shares = layout.Shares,
            RootImage = layout.RootImage,
            TcgTranslationCacheMiB = _options.TcgTranslationCacheMiB,
            Ram = ram,
        };
    }

    private AcceleratorProbe CreateProbe()
    {
        var qemu = new FileInfo(_options.QemuPath);
        string kernelVersion;
        try
        {
            kernelVersion = GuestKernel.Locate(_options.KernelCacheDirectory).Version;
        }
        catch (SandboxException)
        {
            kernelVersion = "none";
        }
        var key = $"v1 host={Environment.OSVersion.Version} {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()} " +
            $"qemu={qemu.Length}:{(qemu.Exists ? qemu.LastWriteTimeUtc.Ticks : 0)} guest={kernelVersion} kvm={File.Exists("/dev/kvm")}";
        return new AcceleratorProbe(async (timeout, ct) =>
        {
            var kernel = GuestKernel.Locate(_options.KernelCacheDirectory);
            var initrd = InitramfsImage.GetOrBuild(_options.CacheDirectory, kernel, AgentBundle.Locate(_options.AgentDirectory));
            await using var vm = await BootAsync(SandboxId.New(), Accelerator.Kvm, kernel, initrd, 256, new GuestRootfs.Layout([], [], []), null, timeout, ct)
                .ConfigureAwait(false);
        }, Path.Combine(_options.CacheDirectory, "accel-probe"), key, _options.KvmProbeTimeout);
    }
}
