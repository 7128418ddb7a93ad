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

/// <summary>Taking back what an earlier owner left: VMs that outlived it (re-attach), and leftovers to reclaim.</summary>
public sealed partial class MicroVmDriver
{
    public IReadOnlyList<SandboxId> ListLeftovers() => CgroupFactory.List(_cgroups, _options.CgroupParent);

    /// <summary>Kills a microVM this process lost track of (its QEMU and anything else in its host cgroup), removes
    /// the cgroup and its state directory; false when nothing was left.</summary>
    public async Task<bool> ReclaimAsync(SandboxId id, CancellationToken cancellationToken)
    {
        var directory = StateDirectoryOf(id);
        var found = Directory.Exists(directory);
        if (Network.SandboxNetwork.Adopt(_options.Network, id) is { } network)
            await network.DisposeAsync().ConfigureAwait(false);
        if (CgroupFactory.Open(_cgroups, _options.CgroupParent, id) is { } cgroup)
        {
            await cgroup.DisposeAsync().ConfigureAwait(false);
            found = true;
        }
        if (Directory.Exists(directory))
            Directory.Delete(directory, recursive: true);
        return found;
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
        // An egress VM's network (namespace, helpers, passt) outlived the old owner with it: taken back, torn down with the VM.
        var network = Network.SandboxNetwork.Adopt(_options.Network, id);
        return new MicroVmSandbox(vm, spec, Info(spec, record.Accelerator, record.SeccompDigest ?? "", hostUid) with { Egress = network?.Granted ?? [] },
            record.Template, record.Accelerator, network);
    }
}
