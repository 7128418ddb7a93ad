using Google.Protobuf;
using Sandbox.AgentProtocol.V1;
using Sandbox.Isolation.Cgroups;
using Sandbox.Isolation.Container;

namespace Sandbox.Isolation.MicroVm;

/// <summary>A VM that hosts a pod (<see cref="SandboxSpec.HostsPod"/>): the pod's later containers run in this guest
/// (<see cref="MicroVmPodContainer"/>).</summary>
public sealed partial class MicroVmSandbox : IPodHost
{
    /// <summary>The driver's options (image cache, mkfs.erofs) when this VM hosts a pod; null otherwise.</summary>
    internal MicroVmOptions? PodOptions { get; init; }

    public bool CanHostContainers => PodOptions is not null && Volatile.Read(ref _disposed) == 0 && !_terminated.Task.IsCompleted;

    /// <summary>The container's root (a directory or an image's unpacked root) becomes an erofs image as for a VM of its
    /// own (cached by digest), copied onto the pod share for the guest (<see cref="PodShare"/>); the agent builds the
    /// container from it. Its network is the VM's: a spec that asks for one of its own is refused.</summary>
    public async Task<ISandbox> AddContainerAsync(SandboxSpec spec, CancellationToken cancellationToken)
    {
        if (PodOptions is not { } options || !CanHostContainers)
            throw new SandboxException(SandboxErrorCode.FailedPrecondition, $"sandbox {Info.Id} does not host a pod (or has ended)");
        SpecValidator.Validate(spec);
        HostMount.Refuse(spec, $"cannot be added to the running microVM of pod sandbox {Info.Id} (no hotplug of 9p shares)");
        if (spec.ScratchMounts.Count > 0)
            throw new SandboxException(SandboxErrorCode.FailedPrecondition,
                $"tmpfs mounts ({string.Join(", ", spec.ScratchMounts.Select(m => m.Destination))}) are not taken by a container in the microVM of pod sandbox {Info.Id}");
        if (spec.Network != NetworkMode.None || spec.NetworkOf is not null || spec.LoopbackNames.Count > 0)
            throw new SandboxException(SandboxErrorCode.FailedPrecondition,
                $"a container in the microVM of pod sandbox {Info.Id} has the VM's network (none of its own): its spec asks for network {spec.Network}");
        if (spec.AllowNestedUserNamespaces != _spec.AllowNestedUserNamespaces)
            throw new SandboxException(SandboxErrorCode.FailedPrecondition,
                $"nested user namespaces are the guest kernel's setting: the container asks {spec.AllowNestedUserNamespaces}, pod sandbox {Info.Id} has {_spec.AllowNestedUserNamespaces}");
        var rootPath = spec.Rootfs switch
        {
            ImageRootfs image => image.LowerDirectory,
            DirectoryRootfs directory => directory.Path,
            _ => throw new SandboxException(SandboxErrorCode.Unimplemented,
                $"a container in a pod's microVM needs a directory or image root, not {spec.Rootfs.GetType().Name}"),
        };
        var built = await Task.Run(() => RootfsImage.GetOrBuild(options.CacheDirectory, rootPath, options.MkfsErofsPath, (spec.Rootfs as ImageRootfs)?.Key),
            cancellationToken).ConfigureAwait(false);
        var shared = Path.Combine(PodShare.For(_vm.Directory).HostPath, PodShare.FileName(spec.Id));
        await using var rollback = new RollbackStack();
        File.Copy(built.Path, shared, overwrite: false);
        rollback.Push(() => File.Delete(shared));
        if (Interop.Libc.Lchown(shared, _vm.HostUid, _vm.HostUid) != 0)
            throw Interop.Errno.Fail($"lchown({shared}, {_vm.HostUid})");
        File.SetUnixFileMode(shared, UnixFileMode.UserRead);
        var seccomp = SeccompPrograms.Get(spec.SyscallProfile, spec.ExtraSyscalls, spec.NarrowingSyscallProfile);
        var request = new AddContainerRequest
        {
            ContainerId = spec.Id.Value,
            ImageFile = PodShare.FileName(spec.Id),
            WritableDirs = { "/tmp", spec.WorkDir },
            DiskBytes = spec.Limits.DiskMiB << 20,
            Hostname = spec.Hostname,
            MemoryBytes = spec.Limits.MemoryMiB << 20,
            PidsMax = spec.Limits.PidsMax,
            CpuQuotaUsec = spec.Limits.Cpus > 0 ? CgroupFactory.CpuQuotaMicroseconds(spec.Limits.Cpus) : 0,
            Uid = (uint)(spec.User?.Uid ?? options.GuestUid),
            Gid = (uint)(spec.User?.Gid ?? options.GuestUid),
            SeccompProgram = ByteString.CopyFrom(seccomp.ToBytes()),
        };
        var added = await _channel.CallAsync("AddContainer", (c, t) => c.AddContainerAsync(request, t), cancellationToken).ConfigureAwait(false);
        rollback.Commit();
        var info = MicroVmDriver.Info(spec, _accelerator, seccomp.Sha256, _vm.HostUid) with { PodHost = Info.Id };
        return new MicroVmPodContainer(this, spec, info, added.HolderPid, shared);
    }

    /// <summary>A container's own usage, from its cgroup in the guest (the guest agent's counters: untrusted numbers
    /// about the container only, checked non-negative).</summary>
    internal async Task<SandboxStats> ContainerStatsAsync(SandboxId container, CancellationToken cancellationToken)
    {
        var r = await _channel.CallAsync("Stats", (c, t) => c.ContainerStatsAsync(container.Value, t), cancellationToken).ConfigureAwait(false);
        return new SandboxStats(r.MemoryBytes, r.MemoryPeakBytes, TimeSpan.FromMicroseconds(r.CpuUsec), r.Tasks, r.OomKills);
    }

    /// <summary>Acts on one container of this pod alone, through its cgroup in the guest (pause, resume, limits, a
    /// signal to its workload, the list of it): never the VM.</summary>
    internal Task<ControlContainerResponse> ControlContainerAsync(ControlContainerRequest request, CancellationToken cancellationToken) =>
        _channel.CallAsync("ControlContainer", (c, t) => c.ControlContainerAsync(request, t), cancellationToken);

    /// <summary>Ends a container of this pod in the guest (its processes, namespaces, mounts, cgroup) and removes its
    /// image from the pod share. A VM already gone has nothing left to end.</summary>
    internal async Task RemoveContainerAsync(SandboxId container, string sharedImage)
    {
        try
        {
            if (Volatile.Read(ref _disposed) == 0 && !_terminated.Task.IsCompleted)
                await _channel.CallAsync("RemoveContainer", (c, t) => c.RemoveContainerAsync(container.Value, t), CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            File.Delete(sharedImage);
        }
    }
}
