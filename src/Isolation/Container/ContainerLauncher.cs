using System.Text;
using Sandbox.Isolation.Container.Cgroups;
using Sandbox.Isolation.Interop;
using Sandbox.Isolation.Native;

namespace Sandbox.Isolation.Container;

/// <summary>The one place a container is started, for one-shot runs and long-lived sandboxes alike: compile the
/// seccomp program, take a host uid and a cgroup, spawn bwrap holding the sandbox on its block fd, move the sandbox
/// into its cgroup and set its rlimits, then let it go. Any failure undoes everything taken so far.</summary>
internal sealed class ContainerLauncher(BubblewrapOptions options, CgroupLayout cgroups)
{
    private readonly HostUidAllocator _uids = new(options.HostUidBase, options.HostUidCount);

    /// <summary>The descriptors bwrap passes to the sandboxed command, beyond the ones the launcher adds.</summary>
    public sealed record Stdio(int Stdin, int Stdout, int Stderr);

    public async Task<ContainerInstance> LaunchAsync(SandboxSpec spec, IReadOnlyList<string> command, IReadOnlyDictionary<string, string> env,
        string cwd, Stdio stdio, IReadOnlyList<MountOp> extraMounts, IReadOnlyList<NativeSpawn.FdMapping> extraFds,
        CancellationToken cancellationToken)
    {
        var program = SeccompPrograms.Get(spec.SyscallProfile, spec.ExtraSyscalls);
        await using var rollback = new RollbackStack();

        var hostUid = Environment.IsPrivilegedProcess ? _uids.Allocate() : -1;
        if (hostUid >= 0)
            rollback.Push(() => _uids.Release(hostUid));

        var cgroup = CgroupFactory.Create(cgroups, options.CgroupParent, spec.Id, spec.Limits);
        rollback.Push(cgroup);

        using var seccomp = SealedMemfd.Create("seccomp", program.ToBytes());
        using var passwd = SealedMemfd.Create("passwd", Encoding.UTF8.GetBytes(PasswdFile(spec)));
        using var group = SealedMemfd.Create("group", Encoding.UTF8.GetBytes(GroupFile()));

        var mounts = new List<MountOp>(RootfsLayout.Build(spec.Rootfs, spec.WorkDir))
        {
            new RoBindData(BwrapFds.Passwd, "/etc/passwd"),
            new RoBindData(BwrapFds.Group, "/etc/group"),
            new ProcOp("/proc"),
            new DevOp("/dev"),
            new TmpfsOp("/tmp", spec.Limits.DiskMiB << 20),
            new TmpfsOp(spec.WorkDir, spec.Limits.DiskMiB << 20, "0755"),
        };
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
        };
        // rlimits are set by util-linux prlimit on itself before anything else runs: setting them on the held child
        // from here would need CAP_SYS_RESOURCE over its user namespace, which a confined root may lack.
        var fileSizeBytes = (spec.Limits.FileSizeMiB ?? spec.Limits.DiskMiB) << 20;
        var argv = new List<string>
        {
            options.PrlimitPath, $"--nofile={spec.Limits.OpenFiles}:{spec.Limits.OpenFiles}",
            $"--fsize={fileSizeBytes}:{fileSizeBytes}", "--core=0:0", "--",
        };
        if (hostUid >= 0)
        {
            // bwrap started by root would map the sandbox's uid to host root; started as an unprivileged uid it maps
            // to that uid, which is what the host then sees for every sandboxed process.
            argv.AddRange([options.SetprivPath, $"--reuid={hostUid}", $"--regid={hostUid}", "--clear-groups", "--"]);
        }
        argv.AddRange(args.ToArgv(options.BwrapPath));

        var fds = new List<NativeSpawn.FdMapping>
        {
            new(stdio.Stdin, 0), new(stdio.Stdout, 1), new(stdio.Stderr, 2),
            new(seccomp.Fd, BwrapFds.Seccomp), new(passwd.Fd, BwrapFds.Passwd), new(group.Fd, BwrapFds.Group),
        };
        fds.AddRange(extraFds);

        var bwrap = BwrapProcess.Start(argv, DefaultEnvironment.ToEnvp(new Dictionary<string, string>(env)), fds);
        rollback.Push(bwrap);
        // The cgroup must be killed before bwrap is reaped on failure (bwrap waits for its init).
        rollback.Push(() => cgroup.KillAllAsync(CancellationToken.None).GetAwaiter().GetResult());

        var initPid = await bwrap.ReadChildPidAsync(cancellationToken).ConfigureAwait(false);
        cgroup.AddProcess(initPid);
        bwrap.Release();

        var info = new SandboxInfo
        {
            Id = spec.Id,
            Tier = SandboxTier.Container,
            Namespaces = BwrapArguments.Namespaces,
            SyscallProfile = spec.SyscallProfile,
            SeccompDigest = program.Sha256,
            Limits = spec.Limits,
            HostUid = hostUid >= 0 ? hostUid : (int)Libc.GetEUid(),
            CgroupPath = cgroup.Path,
        };
        rollback.Commit();
        return new ContainerInstance(bwrap, cgroup, hostUid, initPid, info, uid => { if (uid >= 0) _uids.Release(uid); });
    }

    private string PasswdFile(SandboxSpec spec) => HostUserland.PasswdFile(options.SandboxUid, spec.WorkDir);

    private string GroupFile() => HostUserland.GroupFile(options.SandboxUid);
}
