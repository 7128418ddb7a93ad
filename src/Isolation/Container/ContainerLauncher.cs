using System.Text;
using Sandbox.Isolation.Cgroups;
using Sandbox.Isolation.Interop;
using Sandbox.Isolation.Native;
using Sandbox.Isolation.Network;
using Sandbox.Isolation.Users;

namespace Sandbox.Isolation.Container;

/// <summary>The one place a container is started, for one-shot runs and long-lived sandboxes alike: compile the
/// seccomp program, take a uid range, create the sandbox's user namespace and cgroup, spawn bwrap (as the command's
/// host uid, the namespace's owner, joining it) holding the sandbox on its block fd, move the sandbox into its cgroup,
/// then let it go. Any failure undoes everything taken so far.</summary>
internal sealed class ContainerLauncher(BubblewrapOptions options, CgroupLayout cgroups)
{
    /// <summary>The prepared /etc a host-rootfs sandbox of <paramref name="spec"/> gets (cached by content).</summary>
    public string EtcDirectory(SandboxSpec spec)
    {
        var user = spec.User ?? SandboxUser.Default;
        return HostUserland.PrepareEtc(options.CacheDirectory, user.Uid, spec.WorkDir, user.Gid);
    }

    /// <summary>Ids inside a sandbox's user namespace: 0..65535, each a host id of the sandbox's own range.</summary>
    public const int RangeSize = 65_536;

    /// <summary>uid and gid of the agent inside a long-lived container: the range's last id, which no sandbox user may
    /// have (<see cref="SandboxUser.MaxId"/>), so the workload never shares the agent's uid.</summary>
    public const int AgentId = RangeSize - 1;

    /// <summary>The sub-cgroup of a long-lived sandbox that holds bwrap and the agent (and, for an instant, a held exec
    /// before the host moves it into its own).</summary>
    public const string AgentCgroupName = "agent";

    /// <summary>The environment of the launch chain (nsenter, the image overlay's shell, the drop to the owner,
    /// bwrap): nothing of the request's, whose variables reach the command through bwrap's options.</summary>
    private static readonly string[] LaunchChainEnvironment = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"];

    private readonly HostIdAllocator _ranges = new(options.UidRangeBase, RangeSize, options.UidRangeCount, options.UidRangeLockDirectory, "sandbox uid range");
    /// <summary>The agent bundle's launch helper (<see cref="AsHostUser"/>, <see cref="SandboxUserNamespace"/>), found at
    /// the first launch: a driver made on a host without the bundle can still be probed.</summary>
    private readonly Lazy<string> _launchHelper = new(() => Agent.AgentBundle.Locate(options.AgentDirectory).LaunchHelper());

    /// <summary>pids.max of a sandbox's cgroup for a pids limit of <paramref name="pidsLimit"/>: bwrap's own tasks come on
    /// top, so `--pids N` means N processes and threads of the workload. Those are the outer bwrap (moved into the cgroup
    /// before it clones) and, unless the command is PID 1 itself (<see cref="BwrapArguments.AsPid1"/>), bwrap's init.
    /// <paramref name="agentPidsReserve"/> is room for the agent's own threads in long-lived sandboxes.</summary>
    internal static int CgroupPidsMax(int pidsLimit, bool commandIsInit, int agentPidsReserve) =>
        pidsLimit + (commandIsInit ? 1 : 2) + agentPidsReserve;

    /// <summary>The descriptors bwrap passes to the sandboxed command, beyond the ones the launcher adds.</summary>
    public sealed record Stdio(int Stdin, int Stdout, int Stderr);

    /// <param name="commandIsInit">The command is the agent: the sandbox's PID 1, which reaps orphans itself (see
    /// <see cref="BwrapArguments.AsPid1"/>), runs as <see cref="AgentId"/> with <see cref="BwrapArguments.AgentCapabilities"/>
    /// and starts the workload as the sandbox's user. Otherwise the command is the workload itself, run as that user.</param>
    /// <param name="agentPidsReserve">Tasks the cgroup allows beyond the spec's pids limit for the agent's own threads
    /// (the agent holds the workload itself to the limit with RLIMIT_NPROC).</param>
    public async Task<ContainerInstance> LaunchAsync(SandboxSpec spec, IReadOnlyList<string> command, IReadOnlyDictionary<string, string> env,
        string cwd, Stdio stdio, IReadOnlyList<MountOp> extraMounts, IReadOnlyList<NativeSpawn.FdMapping> extraFds,
        CancellationToken cancellationToken, int agentPidsReserve = 0, bool commandIsInit = false)
    {
        var program = SeccompPrograms.Get(spec.SyscallProfile, spec.ExtraSyscalls, spec.NarrowingSyscallProfile);
        if (!Environment.IsPrivilegedProcess)
            throw new SandboxException(SandboxErrorCode.FailedPrecondition,
                "the container tier needs root: it writes each sandbox's uid map and creates its cgroup");
        var user = spec.User ?? SandboxUser.Default;
        await using var rollback = new RollbackStack();

        var range = new UidRange(_ranges.Allocate(), RangeSize);
        rollback.Push(() => _ranges.Release(range.HostBase));
        // The namespace's owner, and bwrap's host uid, is the command's own uid of the range (the agent's, or the
        // workload's in a one-shot run): bwrap's init keeps it across its setuid inside, so its parent-death signal
        // from bwrap (--die-with-parent) is allowed; a signal from another uid would be refused.
        var commandId = commandIsInit ? AgentId : user.Uid;
        var owner = range.ToHost(commandId);
        var ownerGid = range.ToHost(commandIsInit ? AgentId : user.Gid);

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

        // Another sandbox's network namespace (a pod): held by the engine until bwrap has reported the sandbox's pid,
        // and entered by the launch chain through /proc/ENGINE-PID/fd/N, so nothing in the chain or the sandbox ever
        // holds a descriptor of it. Ports below 1024 are opened to every member (as container engines do in a pod's
        // namespace): it is the pod's own loopback, and a service (nginx on 80) runs as a uid with no capability there.
        using var joinedNetwork = spec.NetworkOf?.OpenNetworkNamespace();
        var joinedNetworkPath = joinedNetwork is null ? null : $"/proc/{Environment.ProcessId}/fd/{joinedNetwork.DangerousGetHandle()}";
        if (joinedNetworkPath is not null)
            await HostCommand.RunAsync([options.Network.NsenterPath, "--net=" + joinedNetworkPath, "--", options.SysctlPath, "-q", "-w",
                "net.ipv4.ip_unprivileged_port_start=0"]).ConfigureAwait(false);

        using var userNamespace = await SandboxUserNamespace.CreateAsync(_launchHelper.Value, owner, range, spec.AllowNestedUserNamespaces).ConfigureAwait(false);
        // An image's root, owned inside as in the image (root by root): an idmapped copy made with this namespace.
        using var imageLower = spec.Rootfs is ImageRootfs image ? IdmappedLower.Create(image.LowerDirectory, userNamespace) : null;
        using var seccomp = SeccompPrograms.OpenForBwrap(program);
        // The host rootfs's prepared /etc holds the generated accounts; a directory rootfs gets them laid over its own,
        // and so does an image unless the sandbox runs as the image's root, which keeps the image's own accounts (apt's
        // _apt, daemons' users) the way the image's programs expect them.
        var generatedAccounts = spec.Rootfs is not HostRootfs && !(spec.Rootfs is ImageRootfs && user.Uid == 0);
        using var passwd = generatedAccounts ? SealedMemfd.Create("passwd", Encoding.UTF8.GetBytes(HostUserland.PasswdFile(user.Uid, spec.WorkDir, user.Gid))) : null;
        using var group = generatedAccounts ? SealedMemfd.Create("group", Encoding.UTF8.GetBytes(HostUserland.GroupFile(user.Gid))) : null;
        // A directory rootfs brings its own /etc; a regular resolv.conf there is covered with the sandbox resolver's (a
        // link is left alone: bwrap would follow it). The host rootfs's prepared /etc already names it.
        // An image's is covered unless it is a link (the overlay script makes an empty mount point where it is missing).
        var resolvOver = network is not null && spec.Rootfs switch
        {
            DirectoryRootfs d => IsRegularFile(Path.Combine(d.Path, "etc/resolv.conf")),
            ImageRootfs i => !IsLink(Path.Combine(i.LowerDirectory, "etc")) && !IsLink(Path.Combine(i.LowerDirectory, "etc/resolv.conf")),
            _ => false,
        };
        using var resolv = resolvOver ? SealedMemfd.Create("resolv.conf", Encoding.UTF8.GetBytes(SandboxAddresses.ResolvConf)) : null;
        using var hosts = spec.LoopbackNames.Count > 0 ? SealedMemfd.Create("hosts", Encoding.UTF8.GetBytes(HostsFile(spec))) : null;

        var mounts = RootfsLayout.Build(spec.Rootfs, spec.WorkDir, () => EtcDirectory(spec));
        if (generatedAccounts)
            mounts.AddRange([new RoBindData(BwrapFds.Passwd, "/etc/passwd"), new RoBindData(BwrapFds.Group, "/etc/group")]);
        if (resolv is not null)
            mounts.Add(new RoBindData(BwrapFds.ResolvConf, "/etc/resolv.conf"));
        if (hosts is not null)
            mounts.Add(new RoBindData(BwrapFds.Hosts, "/etc/hosts"));
        mounts.AddRange(
        [
            new ProcOp("/proc"),
            new DevOp("/dev"),
            new TmpfsOp("/tmp", spec.Limits.DiskMiB << 20),
            new TmpfsOp(spec.WorkDir, spec.Limits.DiskMiB << 20, "0755"),
        ]);
        mounts.AddRange(extraMounts);
        foreach (var m in spec.ScratchMounts)
        {
            // bwrap mounts a tmpfs nosuid,nodev, its pages charged to the sandbox's memory cgroup; a missing mount point
            // is made on bwrap's own root (top level) and must exist below a bound entry (the caller's root).
            mounts.Add(new TmpfsOp(m.Destination, m.SizeBytes, Convert.ToString(m.Mode, 8).PadLeft(4, '0')));
            if (m.ReadOnly)
                mounts.Add(new RemountRo(m.Destination));
        }
        mounts.Add(new RemountRo("/"));
        var args = new BwrapArguments
        {
            Uid = commandIsInit ? AgentId : user.Uid,
            Gid = commandIsInit ? AgentId : user.Gid,
            Capabilities = commandIsInit ? BwrapArguments.AgentCapabilities : [],
            Hostname = spec.Hostname,
            DieWithParent = spec.DieWithOwner,
            Mounts = mounts,
            WorkingDirectory = cwd,
            Command = command,
            AsPid1 = commandIsInit,
            Environment = env,
            JoinedNetwork = network is not null || joinedNetworkPath is not null,
        };
        var argv = new List<string>();
        if (imageLower is not null)
            argv.AddRange(ImageOverlay.Prefix(options, imageLower, spec.Limits.DiskMiB << 20,
                RootfsLayout.WorkDirInImage(((ImageRootfs)spec.Rootfs).LowerDirectory, spec.WorkDir), range.ToHost(0)));
        if (network is not null)
            argv.AddRange([options.Network.NsenterPath, "--net=" + network.NetnsPath, "--"]);
        else if (joinedNetworkPath is not null)
            argv.AddRange([options.Network.NsenterPath, "--net=" + joinedNetworkPath, "--"]);
        // bwrap runs as the owner of the sandbox's user namespace (so it may join it), never as root; a one-shot's rlimits
        // are set by the same helper on itself before the drop (inherited by bwrap and everything in the sandbox), a
        // long-lived or pooled sandbox's by its agent on itself before it serves anything (BubblewrapDriver).
        argv.AddRange(AsHostUser.Prefix(_launchHelper.Value, owner, ownerGid, commandIsInit ? null : SandboxRlimits.LaunchArgs(spec.Limits)));
        // The options go through a socket (--args), not the command line: bwrap's reaper, PID 1 of a one-shot, would
        // show them to the workload in /proc/1/cmdline (the prepared /etc's path, the agent bundle's). The socket also
        // holds bwrap until it is placed (BwrapOptionsGate).
        using var argsGate = BwrapOptionsGate.Create(args.ToArgsFile());
        argv.AddRange(args.ToArgvWithArgsFd(options.BwrapPath, BwrapFds.Args));

        var fds = new List<NativeSpawn.FdMapping>
        {
            new(stdio.Stdin, 0), new(stdio.Stdout, 1), new(stdio.Stderr, 2),
            new(seccomp.Fd, BwrapFds.Seccomp), new(argsGate.Remote.Fd, BwrapFds.Args),
            new(userNamespace.Fd, BwrapFds.UserNamespace),
        };
        if (passwd is not null && group is not null)
            fds.AddRange([new(passwd.Fd, BwrapFds.Passwd), new(group.Fd, BwrapFds.Group)]);
        if (resolv is not null)
            fds.Add(new(resolv.Fd, BwrapFds.ResolvConf));
        if (hosts is not null)
            fds.Add(new(hosts.Fd, BwrapFds.Hosts));
        fds.AddRange(extraFds);

        // The chain's own environment is fixed: the command's goes to bwrap as options (BwrapArguments.Environment).
        var bwrap = await LauncherThreads.SpawnAsync(argv, LaunchChainEnvironment, fds).ConfigureAwait(false);
        rollback.Push(bwrap);
        // bwrap goes into the sandbox's own cgroup while it waits for the end of its options (it is still exec'ing
        // the drop to its uid, and cannot have cloned): the sandbox is born inside its limits, and its cgroup namespace
        // (--unshare-cgroup) is rooted at the sandbox's cgroup on every hierarchy, so nothing inside sees the host's
        // cgroup layout or the sandbox's id. If this process died before the release below, the held sandbox would go
        // on (bwrap reads EOF on the block socket as "go") but never outside its cgroup. A service manager that cleans
        // up after its owner (systemd's KillMode) also leaves bwrap alone, and the cgroup kill still takes everything.
        cgroup.AddProcess(bwrap.Pid);
        // The cgroup must be killed before bwrap is reaped on failure (bwrap waits for its init).
        rollback.Push(() => cgroup.KillAllAsync(CancellationToken.None).GetAwaiter().GetResult());
        argsGate.Open();

        var initPid = await bwrap.ReadChildPidAsync(cancellationToken).ConfigureAwait(false);
        // Opened while bwrap holds its init before the command (the pid cannot have been reused): teardown ends the
        // sandbox through it (ContainerInstance.InitPidfd).
        var initPidfd = PidfdHandle.Open(initPid);
        rollback.Push(initPidfd);
        // A long-lived sandbox's bwrap and agent then move to a sub-cgroup of their own, so each exec can have its own
        // too (shown inside as "/e…", the agent as "/agent"), and, on v2, the sandbox's cgroup holds no process itself
        // (the no-internal-process rule).
        var home = commandIsInit ? cgroup.MoveProcessesIntoChild(AgentCgroupName) : cgroup;
        bwrap.Release();

        var ids = new SandboxIds(range, user);
        var info = Info(spec.Id, spec.SyscallProfile, program.Sha256, spec.Limits, ids, cgroup, network);
        rollback.Commit();
        return new ContainerInstance(bwrap, cgroup, ids, initPid, info, ReleaseIds, network) { AgentCgroup = commandIsInit ? home : null, InitPidfd = initPidfd };
    }

    /// <summary>Takes back a container this launcher's owner started before it was restarted (see
    /// <see cref="ContainerAttachment"/>): the same bwrap process (pid and start time) in the sandbox's cgroup, its
    /// host uid marked used again. Null, having touched nothing, when that bwrap or the cgroup is gone.</summary>
    public ContainerInstance? Attach(SandboxId id, ContainerAttachment attachment)
    {
        if (BwrapProcess.Attach(attachment.BwrapPid, attachment.BwrapStartTime) is not { } bwrap)
            return null;
        // bwrap was moved into the sandbox's cgroup at launch: a process elsewhere is not ours (and is left alone).
        if (CgroupFactory.Open(cgroups, options.CgroupParent, id) is not { } cgroup || cgroup.OpenChild(AgentCgroupName) is not { } agentCgroup
            || !InCgroup(bwrap.Pid, options.CgroupParent, id))
        {
            bwrap.Forget();
            return null;
        }
        if (!_ranges.Reserve(attachment.UidRangeBase))
        {
            bwrap.Forget();
            throw new SandboxException(SandboxErrorCode.AlreadyExists, $"uid range from {attachment.UidRangeBase} of sandbox {id} is already in use");
        }
        var ids = new SandboxIds(new UidRange(attachment.UidRangeBase, RangeSize), attachment.User);
        // An egress sandbox's network (pasta, dnsmasq, the namespace) outlived the old owner too: taken back with it.
        var network = SandboxNetwork.Adopt(options.Network, id);
        var info = Info(id, attachment.SyscallProfile, attachment.SeccompDigest, attachment.Limits, ids, cgroup, network);
        return new ContainerInstance(bwrap, cgroup, ids, attachment.InitPid, info, ReleaseIds, network) { AgentCgroup = agentCgroup };
    }

    /// <summary>What a container reports about itself, for a new launch and a re-attach alike.</summary>
    private static SandboxInfo Info(SandboxId id, string profile, string seccompDigest, ResourceLimits limits, SandboxIds ids, ICgroup cgroup,
        SandboxNetwork? network) => new()
    {
        Id = id,
        Tier = SandboxTier.Container,
        Namespaces = BwrapArguments.Namespaces,
        SyscallProfile = profile,
        SeccompDigest = seccompDigest,
        Limits = cgroup.CpuQuotaEnforced ? limits : limits with { Cpus = 0 },
        HostUid = ids.Range.ToHost(ids.User.Uid),
        HostUidRange = ids.Range,
        CgroupPath = cgroup.Path,
        Egress = network?.Granted ?? [],
    };

    /// <summary>The sandbox's /etc/hosts when it names its loopback (<see cref="SandboxSpec.LoopbackNames"/>): laid over
    /// the rootfs's own, which must have a regular file there to cover (the host rootfs's prepared /etc has one, the
    /// image overlay script makes one); a link is never followed.</summary>
    private static string HostsFile(SandboxSpec spec)
    {
        var etc = spec.Rootfs switch
        {
            DirectoryRootfs d => Path.Combine(d.Path, "etc"),
            ImageRootfs i => Path.Combine(i.LowerDirectory, "etc"),
            _ => null,
        };
        if (etc is not null && (IsLink(etc) || IsLink(Path.Combine(etc, "hosts")) || (spec.Rootfs is DirectoryRootfs && !IsRegularFile(Path.Combine(etc, "hosts")))))
            throw new SandboxException(SandboxErrorCode.InvalidArgument,
                $"loopback names need a regular /etc/hosts in the rootfs to lay the sandbox's over ('{etc}/hosts' is a link or missing)");
        return $"127.0.0.1\tlocalhost {string.Join(' ', spec.LoopbackNames)}\n::1\tlocalhost ip6-localhost ip6-loopback\n";
    }

    private static bool IsLink(string path) => new FileInfo(path).LinkTarget is not null;

    private static bool IsRegularFile(string path)
    {
        var info = new FileInfo(path);
        return info.Exists && info.LinkTarget is null;
    }

    /// <summary>Hands a long-lived sandbox's work dir (made by bwrap as the agent's uid) to its user, through the agent's
    /// root (<c>/proc/PID/root</c>); lchown, so a link is never followed.</summary>
    internal static void GiveWorkDir(ContainerInstance instance, string workDir)
    {
        var path = $"/proc/{instance.InitPid}/root{workDir}";
        var uid = instance.Ids.Range.ToHost(instance.Ids.User.Uid);
        var gid = instance.Ids.Range.ToHost(instance.Ids.User.Gid);
        if (Libc.Lchown(path, uid, gid) != 0)
            throw Errno.Fail($"lchown({path}, {uid}, {gid})");
    }

    internal static bool InCgroup(int pid, string parentName, SandboxId id)
    {
        try
        {
            var suffix = "/" + parentName + "/" + id.Value;
            return File.ReadAllLines($"/proc/{pid}/cgroup").Any(line =>
                line.EndsWith(suffix, StringComparison.Ordinal) || line.EndsWith(suffix + "/" + AgentCgroupName, StringComparison.Ordinal));
        }
        catch (IOException)
        {
            return false;
        }
    }

    private void ReleaseIds(SandboxIds ids)
    {
        _ranges.Release(ids.Range.HostBase);
    }
}

/// <summary>The host ids one container holds: its uid range, and who its processes are inside it.</summary>
internal sealed record SandboxIds(UidRange Range, SandboxUser User);
