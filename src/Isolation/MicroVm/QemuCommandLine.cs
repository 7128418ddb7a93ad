namespace Sandbox.Isolation.MicroVm;

/// <summary>A virtio-9p export: host directory → mount tag, read-only unless <paramref name="Writable"/> (a host mount
/// asked read-write). <paramref name="Bind"/>: what the VMM jail binds for it (a host mount's source into the VM's state
/// directory); null = <paramref name="HostPath"/> itself, read-only.</summary>
public sealed record VirtioShare(string Tag, string HostPath, bool Writable = false, JailBind? Bind = null);

/// <summary>A read-only root file system image on a virtio-blk disk, passed to QEMU as an open descriptor
/// (<see cref="VmmJail.RootImageFd"/>); <paramref name="Serial"/> names the disk to the guest and, derived from the
/// image's digest, makes a snapshot template's identity depend on the image (a restored guest keeps the disk size it
/// probed at boot).</summary>
public sealed record RootImage(string Serial);

/// <summary>Guest RAM in a file (memory-backend-file): <paramref name="Shared"/> = MAP_SHARED (a snapshot template
/// writes its RAM into the file), else MAP_PRIVATE (a restored clone: copy-on-write over the template's file).</summary>
public sealed record RamFile(string Path, bool Shared);

/// <summary>The guest NIC of a CNI pod's VM: the MAC CNI gave the pod's interface (the pod's peers and the bridge
/// already know the address by it), on the tap descriptor <see cref="VmmJail.TapFd"/>.</summary>
public sealed record TapNic(System.Net.NetworkInformation.PhysicalAddress Mac)
{
    /// <summary>aa:bb:cc:dd:ee:ff, as QEMU's mac= takes it.</summary>
    public string MacText => string.Join(':', Mac.GetAddressBytes().Select(b => b.ToString("x2")));
}

/// <summary>
/// The exact QEMU invocation of one microVM, as a record turned into argv once (<see cref="ToArgv"/>); no shell.
/// Machine: -M microvm (virtio-mmio, no PCI, no firmware: the ELF vmlinux boots through PVH), ACPI on for Debian's
/// kernel (it finds virtio-mmio devices through it) and off for the minimal kernel (built without ACPI: QEMU then
/// names the devices on the kernel command line, <c>virtio_mmio.device=</c>), -nodefaults -no-user-config -nographic -no-reboot, QEMU's own
/// seccomp sandbox on. Devices: the serial console on QEMU's stdout, a virtio-serial port named
/// <c>sandbox.agent</c> on a unix-socket chardev (QEMU connects to the host's listening socket), QMP the same way,
/// one virtio-9p device per share (read-only but a host mount asked rw, security_model=none: QEMU's host uid, set by its jail, decides what it
/// may read), a read-only virtio-blk disk for a root image, a virtio-net device on passt's socket (egress) or on a CNI
/// pod's tap descriptor.
/// </summary>
public sealed record QemuCommandLine
{
    public const string AgentPortName = "sandbox.agent";

    public required string QemuPath { get; init; }
    public required Accelerator Accelerator { get; init; }
    public required long MemoryMiB { get; init; }
    public required int VCpus { get; init; }
    public required string KernelPath { get; init; }
    public required string InitrdPath { get; init; }
    public required string KernelCommandLine { get; init; }
    public required string AgentSocketPath { get; init; }
    public required string QmpSocketPath { get; init; }
    public IReadOnlyList<VirtioShare> Shares { get; init; } = [];

    /// <summary>false for a kernel without ACPI (the minimal one): <c>-M microvm,acpi=off</c>, so QEMU appends the
    /// virtio-mmio devices to the kernel command line; a kernel without ACPI would otherwise find no device.</summary>
    public bool Acpi { get; init; } = true;

    /// <summary>Network mode egress: passt's unix socket (in the sandbox's network namespace); the guest gets a
    /// virtio-net device on it (`-netdev stream`). null = no network device.</summary>
    public string? NetworkSocketPath { get; init; }

    /// <summary>A CNI pod's network: the guest gets a virtio-net device with the pod's interface's MAC on the tap passed
    /// as <see cref="VmmJail.TapFd"/> (`-netdev tap,fd=N`: QEMU neither opens nor configures a tap itself). null = none.
    /// Never together with <see cref="NetworkSocketPath"/>.</summary>
    public TapNic? Tap { get; init; }

    /// <summary>The root image disk; null = none (the host userland's 9p shares).</summary>
    public RootImage? RootImage { get; init; }

    /// <summary>Seconds after which QEMU connects its QMP and agent sockets again when the host side went away; 0 =
    /// never (the VM's connections end with its owner). A VM that outlives its owner sets it (1).</summary>
    public int ReconnectSeconds { get; init; }
    public int TcgTranslationCacheMiB { get; init; } = 64;

    /// <summary>Searched first for firmware (-L): the option ROMs of a QEMU installed in a prefix of its own
    /// (<see cref="QemuInstall.FirmwareDirectory"/>); null = QEMU's built-in search only.</summary>
    public string? FirmwareDirectory { get; init; }

    /// <summary>The machine's firmware (-bios; <see cref="QemuInstall.Bios"/>); null = QEMU's built-in choice.</summary>
    public string? Bios { get; init; }

    /// <summary>null = anonymous guest RAM (cold boot).</summary>
    public RamFile? Ram { get; init; }

    /// <summary>Start paused, waiting for QMP migrate-incoming (a restore from a snapshot template). The kernel,
    /// initrd and command line are then left out: the guest's memory already holds the booted kernel.</summary>
    public bool IncomingDefer { get; init; }

    /// <summary>What a snapshot template's identity depends on: this exact command line with the per-VM paths
    /// (sockets, share host directories, the RAM file) replaced by placeholders. Share tags and their order count.</summary>
    public string Identity() => string.Join("\n", (this with
    {
        AgentSocketPath = "/agent.sock",
        QmpSocketPath = "/qmp.sock",
        Shares = Shares.Select(s => s with { HostPath = "/share" }).ToList(),
        Ram = new RamFile("/ram", Shared: true),
        NetworkSocketPath = NetworkSocketPath is null ? null : "/net.sock",
        IncomingDefer = false,
        ReconnectSeconds = 0,
    }).ToArgv());

    /// <summary>The tuned command line measured for Debian's kernel on microvm (reference/microvm.md): quiet console,
    /// panic and reboot exit QEMU at once, no crypto self-tests, no certificate loading, expedited RCU, no audit, no
    /// LSMs beyond capabilities. Under TCG the TSC frequency must be given or the guest hangs calibrating it.
    /// random.trust_cpu=on: the kernel's RNG is seeded from the vCPU's RDRAND at boot (<see cref="TcgCpu"/>). Without
    /// a seed the first getrandom() of the agent's runtime blocks until the kernel's jitter entropy collector is done:
    /// 1.5-3 s of a TCG cold boot, longer with the minimal kernel's 100 Hz tick. noreplace-smp: a kernel that boots on
    /// one CPU rewrites every LOCK prefix of its text to a no-op, one text_poke (two page-table switches, each a full
    /// TLB flush under TCG) per site, ~0.2 s of a TCG boot; the prefixes stay (TCG runs them as plain ops on one vCPU).
    /// no_timer_check: no 4-jiffy wait for the IO-APIC timer interrupt (40 ms at 100 Hz; QEMU's routing works, and KVM
    /// guests skip the check anyway). <paramref name="randomizeUserAddresses"/> false adds norandmaps
    /// (<see cref="MicroVmOptions.GuestAddressSpaceRandomization"/>).</summary>
    public static string TunedKernelCommandLine(Accelerator accelerator, long tscKHz, bool trustCpuRng = true, bool randomizeUserAddresses = true)
    {
        var cmdline = "console=ttyS0 quiet panic=-1 reboot=t cryptomgr.notests noreplace-smp no_timer_check " +
            "initcall_blacklist=load_system_certificate_list,crypto_kdf108_init,init_blk_tracer tsc=reliable " +
            "rcupdate.rcu_expedited=1 lsm=capability audit=0 apparmor=0 random.trust_cpu=" + (trustCpuRng ? "on" : "off") +
            (randomizeUserAddresses ? "" : " norandmaps");
        return accelerator == Accelerator.Tcg ? cmdline + $" tsc_early_khz={tscKHz}" : cmdline;
    }

    /// <summary>The host TSC frequency in kHz, from /proc/cpuinfo's "cpu MHz" (the TSC runs at the nominal clock).</summary>
    public static long HostTscKHz()
    {
        foreach (var line in File.ReadLines("/proc/cpuinfo"))
        {
            if (!line.StartsWith("cpu MHz", StringComparison.Ordinal)) continue;
            var value = line[(line.IndexOf(':') + 1)..].Trim();
            if (double.TryParse(value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var mhz) && mhz > 0)
                return (long)Math.Round(mhz * 1000);
        }
        throw new SandboxException(SandboxErrorCode.Unavailable, "cannot read the host's CPU frequency from /proc/cpuinfo (needed as tsc_early_khz under TCG)");
    }

    /// <summary>TCG's default CPU model plus RDRAND, which TCG emulates from the host's getrandom(): the guest kernel
    /// seeds its RNG from it at boot (random.trust_cpu=on). The host is trusted by the guest anyway, and the agent
    /// reseeds every VM with the host's bytes on SetupGuest.</summary>
    public const string TcgCpu = "qemu64,+rdrand";

    public IReadOnlyList<string> ToArgv()
    {
        var argv = new List<string>
        {
            QemuPath,
            "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
            "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
            "-M", "microvm" + (Acpi ? "" : ",acpi=off") + (Ram is null ? "" : ",memory-backend=ram"),
            "-accel", Accelerator == Accelerator.Kvm ? "kvm" : $"tcg,tb-size={TcgTranslationCacheMiB}",
        };
        if (FirmwareDirectory is not null)
            argv.AddRange(["-L", CheckPath(FirmwareDirectory)]);
        if (Bios is not null)
            argv.AddRange(["-bios", CheckPath(Bios)]);
        argv.AddRange(["-cpu", Accelerator == Accelerator.Kvm ? "host" : TcgCpu]);
        argv.AddRange(["-m", $"{MemoryMiB}M", "-smp", VCpus.ToString()]);
        if (Ram is not null)
            argv.AddRange(["-object", $"memory-backend-file,id=ram,size={MemoryMiB}M,mem-path={CheckPath(Ram.Path)},share={(Ram.Shared ? "on" : "off")}"]);
        if (IncomingDefer)
            argv.AddRange(["-incoming", "defer"]);
        else
            argv.AddRange(["-kernel", KernelPath, "-initrd", InitrdPath, "-append", KernelCommandLine]);
        argv.AddRange(
        [
            "-chardev", "stdio,id=console,signal=off",
            "-serial", "chardev:console",
            "-chardev", $"socket,id=qmp,path={CheckPath(QmpSocketPath)}{Reconnect}",
            "-mon", "chardev=qmp,mode=control",
            "-device", "virtio-serial-device",
            "-chardev", $"socket,id=agent,path={CheckPath(AgentSocketPath)}{Reconnect}",
            "-device", $"virtserialport,id=agentport,chardev=agent,name={AgentPortName}",
        ]);
        if (RootImage is not null)
        {
            argv.AddRange(["-add-fd", $"fd={VmmJail.RootImageFd},set=1,opaque=rootfs"]);
            argv.AddRange(["-drive", "file=/dev/fdset/1,if=none,id=rootfs,format=raw,readonly=on"]);
            argv.AddRange(["-device", $"virtio-blk-device,drive=rootfs,serial={CheckPath(RootImage.Serial)}"]);
        }
        for (var i = 0; i < Shares.Count; i++)
        {
            argv.AddRange(["-fsdev", $"local,id=fs{i},path={CheckPath(Shares[i].HostPath)},security_model=none{(Shares[i].Writable ? "" : ",readonly=on")}"]);
            argv.AddRange(["-device", $"virtio-9p-device,fsdev=fs{i},mount_tag={Shares[i].Tag}"]);
        }
        if (NetworkSocketPath is not null && Tap is not null)
            throw new SandboxException(SandboxErrorCode.Internal, "a microVM gets one network device: passt's socket or a pod's tap, not both");
        if (Tap is not null)
        {
            // vhost=off: the vhost-net worker would be a host kernel thread doing QEMU's work outside its jail's limits.
            argv.AddRange(["-netdev", $"tap,id=net0,fd={VmmJail.TapFd},vhost=off"]);
            argv.AddRange(["-device", $"virtio-net-device,netdev=net0,mac={Tap.MacText}"]);
        }
        if (NetworkSocketPath is not null)
        {
            argv.AddRange(["-netdev", $"stream,id=net0,server=off,addr.type=unix,addr.path={CheckPath(NetworkSocketPath)}"]);
            argv.AddRange(["-device", "virtio-net-device,netdev=net0"]);
        }
        return argv;
    }

    private string Reconnect => ReconnectSeconds > 0 ? $",reconnect={ReconnectSeconds}" : "";

    /// <summary>QEMU option values are comma-separated: a comma in a path would be read as another option.</summary>
    private static string CheckPath(string path) => path.Contains(',')
        ? throw new SandboxException(SandboxErrorCode.InvalidArgument, $"path '{path}' contains ',' which QEMU's option syntax cannot carry")
        : path;
}
