using System.Text;
using Sandbox.Isolation.Cgroups;
using Sandbox.Isolation.Interop;
using Sandbox.Isolation.Native;
using Sandbox.Isolation.Network;

namespace Sandbox.Isolation.Container;

/// <summary>The one place a container is started, for one-shot runs and long-lived sandboxes alike: compile the
/// seccomp program, take a host uid and a cgroup, spawn bwrap holding the sandbox on its block fd, move the sandbox
/// into its cgroup and set its rlimits, then let it go. Any failure undoes everything taken so far.</summary>
internal sealed class ContainerLauncher(BubblewrapOptions options, CgroupLayout cgroups)
{
    /// <summary>The prepared /etc a host-rootfs sandbox of <paramref name="spec"/> gets (cached by content).</summary>
    public string EtcDirectory(SandboxSpec spec) => HostUserland.PrepareEtc(options.CacheDirectory, options.SandboxUid, spec.WorkDir);

    private readonly HostUidAllocator _uids = new(options.HostUidBase, options.HostUidCount, options.HostUidLockDirectory);

    /// <summary>pids.max of a sandbox's cgroup for a pids limit of <paramref name="pidsLimit"/>: bwrap's own tasks come on
    /// top, so `--pids N` means N processes and threads of the workload. Those are the outer bwrap (moved into the cgroup
    /// before it clones) and, unless the command is PID 1 itself (<see cref="BwrapArguments.AsPid1"/>), bwrap's init.
    /// <paramref name="agentPidsReserve"/> is room for the agent's own threads in long-lived sandboxes.</summary>
    internal static int CgroupPidsMax(int pidsLimit, bool commandIsInit, int agentPidsReserve) =>
        pidsLimit + (commandIsInit ? 1 : 2) + agentPidsReserve;

    /// <summary>The descriptors bwrap passes to the sandboxed command, beyond the ones the launcher adds.</summary>
    public sealed record Stdio(int Stdin, int Stdout, int Stderr);

    /// <param name="commandIsInit">The command is the sandbox's PID 1 and reaps orphans itself (see
    /// <see cref="BwrapArguments.AsPid1"/>).</param>
    /// <param name="agentPidsReserve">Tasks the cgroup allows beyond the spec's pids limit for the agent's own threads
    /// (the agent holds the workload itself to the limit with RLIMIT_NPROC).</param>
    public async Task<ContainerInstance> LaunchAsync(SandboxSpec spec, IReadOnlyList<string> command, IReadOnlyDictionary<string, string> env,
        string cwd, Stdio stdio, IReadOnlyList<MountOp> extraMounts, IReadOnlyList<NativeSpawn.FdMapping> extraFds,
        CancellationToken cancellationToken, int agentPidsReserve = 0, bool commandIsInit = false)
    {
        var program = SeccompPrograms.Get(spec.SyscallProfile, spec.ExtraSyscalls);
        await using var rollback = new RollbackStack();

        var hostUid = Environment.IsPrivilegedProcess ? _uids.Allocate() : -1;
        if (hostUid >= 0)
            rollback.Push(() => _uids.Release(hostUid));

        var cgroup = CgroupFactory.Create(cgroups, options.CgroupParent, spec.Id, spec.Limits with { PidsMax = CgroupPidsMax(spec.Limits.PidsMax, commandIsInit, agentPidsReserve) });
        rollback.Push(cgroup);

        // Egress: the host prepares the sandbox's network namespace (filter, resolver, pasta) before the launch, and the
        // launch chain enters it; bwrap then keeps it instead of making an empty one. Taken after the cgroup, given back
        // before it on failure (rollback order).
        SandboxNetwork? network = null;
        if (spec.Network == NetworkMode.Egress)
        {
            network = await SandboxNetwork.CreateAsync(options.Network, spec.Id, spec.EgressAllow, spec.PublishedPorts, cancellationToken).ConfigureAwait(false);
            rollback.Push(network);
        }

        using var seccomp = SealedMemfd.Create("seccomp", program.ToBytes());
        // The host rootfs's prepared /etc holds the generated accounts; a directory rootfs gets them laid over its own.
        var generatedAccounts = spec.Rootfs is not HostRootfs;
        using var passwd = generatedAccounts ? SealedMemfd.Create("passwd", Encoding.UTF8.GetBytes(PasswdFile(spec))) : null;
        using var group = generatedAccounts ? SealedMemfd.Create("group", Encoding.UTF8.GetBytes(GroupFile())) : null;
        // A directory rootfs brings its own /etc; a regular resolv.conf there is covered with the sandbox resolver's (a
        // link is left alone: bwrap would follow it). The host rootfs's prepared /etc already names it.
        var resolvOver = network is not null && spec.Rootfs is DirectoryRootfs d && IsRegularFile(Path.Combine(d.Path, "etc/resolv.conf"));
        using var resolv = resolvOver ? SealedMemfd.Create("resolv.conf", Encoding.UTF8.GetBytes(SandboxAddresses.ResolvConf)) : null;

        var mounts = RootfsLayout.Build(spec.Rootfs, spec.WorkDir, () => EtcDirectory(spec));
        if (generatedAccounts)
            mounts.AddRange([new RoBindData(BwrapFds.Passwd, "/etc/passwd"), new RoBindData(BwrapFds.Group, "/etc/group")]);
        if (resolv is not null)
            mounts.Add(new RoBindData(BwrapFds.ResolvConf, "/etc/resolv.conf"));
        mounts.AddRange(
        [
            new ProcOp("/proc"),
            new DevOp("/dev"),
            new TmpfsOp("/tmp", spec.Limits.DiskMiB << 20),
            new TmpfsOp(spec.WorkDir, spec.Limits.DiskMiB << 20, "0755"),
        ]);
        mounts.AddRange(extraMounts);
        mounts.Add(new RemountRo("/"));
        var args = new BwrapArguments
        {
            Uid = options.SandboxUid,
            Hostname = spec.Hostname,
            DisableUserNamespaces = !spec.AllowNestedUserNamespaces,
            DieWithParent = spec.DieWithOwner,
            Mounts = mounts,
            WorkingDirectory = cwd,
            Command = command,
            AsPid1 = commandIsInit,
            JoinedNetwork = network is not null,
        };
        // rlimits are set by util-linux prlimit on itself before anything else runs: setting them on the held child
        // from here would need CAP_SYS_RESOURCE over its user namespace, which a confined root may lack.
        var fileSizeBytes = (spec.Limits.FileSizeMiB ?? spec.Limits.DiskMiB) << 20;
        var argv = new List<string>();
        if (spec.Rootfs is ImageRootfs image)
            argv.AddRange(ImageOverlay.Prefix(options, image, spec.Limits.DiskMiB << 20));
        if (network is not null)
            argv.AddRange([options.Network.NsenterPath, "--net=" + network.NetnsPath, "--"]);
        argv.AddRange(
        [
            options.PrlimitPath, $"--nofile={spec.Limits.OpenFiles}:{spec.Limits.OpenFiles}",
            $"--fsize={fileSizeBytes}:{fileSizeBytes}", "--core=0:0", "--",
        ]);
        if (hostUid >= 0)
        {
            // bwrap started by root would map the sandbox's uid to host root; started as an unprivileged uid it maps
            // to that uid, which is what the host then sees for every sandboxed process.
            argv.AddRange([options.SetprivPath, $"--reuid={hostUid}", $"--regid={hostUid}", "--clear-groups", "--"]);
        }
        // The options go through a sealed memfd (--args), not the command line: bwrap's reaper, PID 1 of a one-shot,
        // would show them to the workload in /proc/1/cmdline (the prepared /etc's path, the agent bundle's).
        using var argsFile = SealedMemfd.Create("bwrap-args", args.ToArgsFile());
        argv.AddRange(args.ToArgvWithArgsFd(options.BwrapPath, BwrapFds.Args));

        var fds = new List<NativeSpawn.FdMapping>
        {
            new(stdio.Stdin, 0), new(stdio.Stdout, 1), new(stdio.Stderr, 2),
            new(seccomp.Fd, BwrapFds.Seccomp), new(argsFile.Fd, BwrapFds.Args),
        };
        if (passwd is not null && group is not null)
            fds.AddRange([new(passwd.Fd, BwrapFds.Passwd), new(group.Fd, BwrapFds.Group)]);
        if (resolv is not null)
            fds.Add(new(resolv.Fd, BwrapFds.ResolvConf));
        fds.AddRange(extraFds);

        var bwrap = await LauncherThreads.SpawnAsync(argv, DefaultEnvironment.ToEnvp(new Dictionary<string, string>(env)), fds).ConfigureAwait(false);
        rollback.Push(bwrap);
        // bwrap itself goes into the cgroup at once (it is still exec'ing prlimit and setpriv, long before it clones the
        // sandbox), so the sandbox is born inside its limits: if this process died before the release below, the held
        // sandbox would go on (bwrap reads EOF on the block socket as "go") but never outside its cgroup. A service
        // manager that cleans up after its owner (systemd's KillMode) also leaves bwrap alone, and the cgroup kill still
        // takes everything. The init is added again below in case bwrap was faster.
        cgroup.AddProcess(bwrap.Pid);
        // The cgroup must be killed before bwrap is reaped on failure (bwrap waits for its init).
        rollback.Push(() => cgroup.KillAllAsync(CancellationToken.None).GetAwaiter().GetResult());

        var initPid = await bwrap.ReadChildPidAsync(cancellationToken).ConfigureAwait(false);
        cgroup.AddProcess(initPid);
        bwrap.Release();

        var info = Info(spec.Id, spec.SyscallProfile, program.Sha256, spec.Limits, hostUid, cgroup, network);
        rollback.Commit();
        return new ContainerInstance(bwrap, cgroup, hostUid, initPid, info, ReleaseUid, network);
    }

    /// <summary>Takes back a container this launcher's owner started before it was restarted (see
    /// <see cref="ContainerAttachment"/>): the same bwrap process (pid and start time) in the sandbox's cgroup, its
    /// host uid marked used again. Null, having touched nothing, when that bwrap or the cgroup is gone.</summary>
    public ContainerInstance? Attach(SandboxId id, ContainerAttachment attachment)
    {
        if (BwrapProcess.Attach(attachment.BwrapPid, attachment.BwrapStartTime) is not { } bwrap)
            return null;
        // bwrap was moved into the sandbox's cgroup at launch: a process elsewhere is not ours (and is left alone).
        if (CgroupFactory.Open(cgroups, options.CgroupParent, id) is not { } cgroup || !InCgroup(bwrap.Pid, options.CgroupParent, id))
        {
            bwrap.Forget();
            return null;
        }
        if (attachment.HostUid >= 0 && !_uids.Reserve(attachment.HostUid))
        {
            bwrap.Forget();
            throw new SandboxException(SandboxErrorCode.AlreadyExists, $"host uid {attachment.HostUid} of sandbox {id} is already in use");
        }
        // An egress sandbox's network (pasta, dnsmasq, the namespace) outlived the old owner too: taken back with it.
        var network = SandboxNetwork.Adopt(options.Network, id);
        var info = Info(id, attachment.SyscallProfile, attachment.SeccompDigest, attachment.Limits, attachment.HostUid, cgroup, network);
        return new ContainerInstance(bwrap, cgroup, attachment.HostUid, attachment.InitPid, info, ReleaseUid, network);
    }

    /// <summary>What a container reports about itself, for a new launch and a re-attach alike.</summary>
    private static SandboxInfo Info(SandboxId id, string profile, string seccompDigest, ResourceLimits limits, int hostUid, ICgroup cgroup,
        SandboxNetwork? network) => new()
    {
        Id = id,
        Tier = SandboxTier.Container,
        Namespaces = BwrapArguments.Namespaces,
        SyscallProfile = profile,
        SeccompDigest = seccompDigest,
        Limits = cgroup.CpuQuotaEnforced ? limits : limits with { Cpus = 0 },
        HostUid = hostUid >= 0 ? hostUid : (int)Libc.GetEUid(),
        CgroupPath = cgroup.Path,
        Egress = network?.Granted ?? [],
    };

    private static bool IsRegularFile(string path)
    {
        var info = new FileInfo(path);
        return info.Exists && info.LinkTarget is null;
    }

    internal static bool InCgroup(int pid, string parentName, SandboxId id)
    {
        try
        {
            var suffix = "/" + parentName + "/" + id.Value;
            return File.ReadAllLines($"/proc/{pid}/cgroup").Any(line => line.EndsWith(suffix, StringComparison.Ordinal));
        }
        catch (IOException)
        {
            return false;
        }
    }

    private void ReleaseUid(int uid)
    {
        if (uid >= 0)
            _uids.Release(uid);
    }

    private string PasswdFile(SandboxSpec spec) => HostUserland.PasswdFile(options.SandboxUid, spec.WorkDir);

    private string GroupFile() => HostUserland.GroupFile(options.SandboxUid);
}
