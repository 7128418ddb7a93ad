using System.Security.Cryptography;
using Google.Protobuf;
using Sandbox.AgentProtocol.V1;
using Sandbox.Isolation.Agent;
using Sandbox.Isolation.Container;
using Sandbox.Isolation.Container.Cgroups;
using Sandbox.Isolation.MicroVm.Initramfs;
using Sandbox.Isolation.MicroVm.Kernel;

namespace Sandbox.Isolation.MicroVm;

/// <summary>
/// The microVM tier: every sandbox is a QEMU microvm machine with its own Linux kernel (Debian's, booted as an ELF
/// vmlinux through PVH), the agent as the guest's PID 1, the rootfs as read-only virtio-9p shares, and the agent
/// protocol on a virtio-serial port. KVM where a probe boot proves it works, else TCG (reported, never silent).
/// </summary>
public sealed class MicroVmDriver : ISandboxDriver
{
    private readonly MicroVmOptions _options;
    private readonly CgroupLayout _cgroups;
    private readonly Lazy<AcceleratorProbe> _probe;

    public MicroVmDriver(MicroVmOptions? options = null, CgroupLayout? cgroups = null)
    {
        _options = options ?? new MicroVmOptions();
        _cgroups = cgroups ?? CgroupLayout.Host;
        _probe = new Lazy<AcceleratorProbe>(CreateProbe);
    }

    public SandboxTier Tier => SandboxTier.MicroVm;

    public MicroVmOptions Options => _options;

    public DriverAvailability Probe()
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
        var accel = AcceleratorProbe.StaticReason() is { } why ? new AcceleratorProbeResult(Accelerator.Tcg, why) : null;
        return accel is null
            ? new(true, $"QEMU microvm, guest kernel {kernel.Version}; accelerator decided by a probe boot on first use")
            : new(_options.AllowTcg, $"QEMU microvm, guest kernel {kernel.Version}, accel tcg: {accel.Reason}", accel.Accelerator);
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
        var layout = GuestRootfs.Build(spec.Rootfs, spec.WorkDir, _options.GuestUid, _options.CacheDirectory);
        var guestRamMiB = GuestRamMiB(spec.Limits);

        await using var rollback = new RollbackStack();
        var vm = await BootAsync(spec.Id, accel.Accelerator, kernel, initrd, guestRamMiB, layout.Shares, _options.BootTimeout, cancellationToken)
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
        };
        setup.Mounts.AddRange(layout.Mounts);
        setup.Symlinks.AddRange(layout.Symlinks);
        setup.WritableDirs.AddRange(["/tmp", spec.WorkDir]);
        AgentCalls.Diagnostics.Value = vm.Console.ToString;
        await AgentCalls.RunAsync(() => vm.Agent.SetupGuestAsync(setup, cancellationToken)).ConfigureAwait(false);

        var info = new SandboxInfo
        {
            Id = spec.Id,
            Tier = SandboxTier.MicroVm,
            Accelerator = accel.Accelerator,
            Namespaces = [],
            SyscallProfile = "none (guest kernel boundary)",
            SeccompDigest = "",
            Limits = spec.Limits,
            HostUid = 0,
            CgroupPath = null,
        };
        rollback.Commit();
        return new MicroVmSandbox(vm, spec, info);
    }

    /// <summary>The guest's RAM: the sandbox's memory limit (its workload cgroup's memory.max) plus room for the
    /// guest kernel and the agent.</summary>
    public long GuestRamMiB(ResourceLimits limits) => limits.MemoryMiB + _options.GuestOverheadMiB;

    private Task<MicroVmInstance> BootAsync(SandboxId id, Accelerator accel, GuestKernel kernel, string initrd, long ramMiB,
        IReadOnlyList<VirtioShare> shares, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var cmdline = QemuCommandLine.TunedKernelCommandLine(accel, accel == Accelerator.Tcg ? QemuCommandLine.HostTscKHz() : 0);
        var hostLimits = new ResourceLimits
        {
            MemoryMiB = ramMiB + _options.QemuOverheadMiB,
            PidsMax = 64 + 4 * _options.VCpus,
            Cpus = 0,
        };
        return MicroVmInstance.BootAsync(id, (qmp, agent) => new QemuCommandLine
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
            Shares = shares,
            TcgTranslationCacheMiB = _options.TcgTranslationCacheMiB,
        }, hostLimits, _cgroups, _options.CgroupParent, timeout, cancellationToken);
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
            await using var vm = await BootAsync(SandboxId.New(), Accelerator.Kvm, kernel, initrd, 256, [], timeout, ct).ConfigureAwait(false);
        }, Path.Combine(_options.CacheDirectory, "accel-probe"), key, _options.KvmProbeTimeout);
    }
}
