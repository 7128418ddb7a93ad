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

/// <summary>Starting QEMU: the jailed boot, its command line and the host limits of its cgroup.</summary>
public sealed partial class MicroVmDriver
{
    private Task<MicroVmInstance> BootAsync(SandboxId id, Accelerator accel, GuestKernel kernel, string initrd, long ramMiB,
        GuestRootfs.Layout layout, RamFile? ram, TimeSpan timeout, CancellationToken cancellationToken, bool persistent = false,
        string? networkSocket = null, Network.PodNetworkTap? podTap = null, Func<AgentClient, Task>? setUpBehindPing = null) =>
        StartJailedAsync(id, accel, kernel, initrd, layout, ram, null, persistent,
            (qmp, agent) => CommandLine(accel, kernel, initrd, ramMiB, layout, ram, qmp, agent)
                with { ReconnectSeconds = persistent ? 1 : 0, NetworkSocketPath = networkSocket, Tap = podTap is null ? null : new TapNic(podTap.Interface.Mac) },
            HostLimits(ramMiB), timeout, cancellationToken, networkSocket: networkSocket, tap: podTap?.Tap, setUpBehindPing: setUpBehindPing);

    /// <summary>Starts QEMU in its jail (<see cref="VmmJail"/>) as a host uid of its own, held until the VM is gone;
    /// the jail holds exactly the files this VM uses (<paramref name="ram"/>: a template's RAM file being built, bound
    /// writable), and the root image (if any) and a clone's template RAM (<paramref name="templateRam"/>) go in as
    /// descriptors, as does a CNI pod's <paramref name="tap"/>.</summary>
    private async Task<MicroVmInstance> StartJailedAsync(SandboxId id, Accelerator accel, GuestKernel kernel, string initrd,
        GuestRootfs.Layout layout, RamFile? ram, Native.FileDescriptor? templateRam, bool persistent, Func<string, string, QemuCommandLine> commandLine, ResourceLimits hostLimits,
        TimeSpan timeout, CancellationToken cancellationToken, string? restoreStatePath = null, string? networkSocket = null,
        Func<AgentClient, Task>? setUpBehindPing = null, Microsoft.Win32.SafeHandles.SafeFileHandle? tap = null)
    {
        var directory = NewStateDirectory(id);
        var binds = new List<JailBind> { new(kernel.VmlinuxPath), new(initrd), new(directory, Writable: true) };
        binds.AddRange(Qemu.Binds);
        binds.AddRange(layout.Shares.Select(share => share.Bind ?? new JailBind(share.HostPath)));
        if (ram is not null)
            binds.Add(new JailBind(ram.Path, Writable: true));
        var hostUid = _uids.Allocate();
        try
        {
            // Egress: passt's socket (root's, in the network's root-only state directory) goes into the jail at its host
            // path and is given to the VM's uid, the only one that may connect to it (QEMU's -netdev stream).
            if (networkSocket is not null)
            {
                if (Interop.Libc.Lchown(networkSocket, hostUid, hostUid) != 0)
                    throw Interop.Errno.Fail($"lchown({networkSocket}, {hostUid})");
                binds.Add(new JailBind(networkSocket, Writable: true));
            }
            var jail = new VmmJail
            {
                BwrapPath = _options.BwrapPath,
                SetprivPath = _options.SetprivPath,
                HostUid = hostUid,
                Binds = binds,
                DieWithParent = !persistent,
                KvmGroup = accel == Accelerator.Kvm ? KvmGroup() : null,
                QemuModuleDirectory = Qemu.ModuleDirectory,
                // A clone's guest RAM is the template's memfd (shmem: no THP whatever QEMU asks), so only its TCG
                // translation buffer gets huge pages; a cold boot's anonymous guest RAM would too, and is left without.
                TransparentHugePages = _options.TranslationBufferHugePages && templateRam is not null && accel == Accelerator.Tcg,
            };
            using var image = layout.Image is null ? null : File.OpenHandle(layout.Image.Path, FileMode.Open, FileAccess.Read);
            var vm = await MicroVmInstance.BootAsync(id, directory, commandLine, jail, image, templateRam, hostLimits, _cgroups, _options.CgroupParent, timeout,
                cancellationToken, restoreStatePath, setUpBehindPing, tap).ConfigureAwait(false);
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
        var cmdline = QemuCommandLine.TunedKernelCommandLine(accel, accel == Accelerator.Tcg ? QemuCommandLine.HostTscKHz() : 0,
            _options.SeedGuestRngFromCpu, _options.GuestAddressSpaceRandomization);
        return new QemuCommandLine
        {
            QemuPath = Qemu.Binary,
            FirmwareDirectory = Qemu.FirmwareDirectory,
            Bios = Qemu.Bios,
            Accelerator = accel,
            MemoryMiB = ramMiB,
            VCpus = _options.VCpus,
            KernelPath = kernel.VmlinuxPath,
            InitrdPath = initrd,
            KernelCommandLine = cmdline,
            Acpi = !kernel.IsMinimal,
            AgentSocketPath = agent,
            QmpSocketPath = qmp,
            Shares = layout.Shares,
            RootImage = layout.RootImage,
            TcgTranslationCacheMiB = _options.TcgTranslationCacheMiB,
            Ram = ram,
        };
    }
}
