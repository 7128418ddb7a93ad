using System.Runtime.InteropServices;
using System.Text;
using Sandbox.Agent.Interop;
using Sandbox.AgentProtocol.V1;
using Sandbox.Ttrpc;

namespace Sandbox.Agent;

/// <summary>
/// The host's SetupGuest call in a microVM guest: builds the sandbox root (tmpfs, read-only nosuid 9p shares or
/// erofs disks, an image's disk under a writable overlay with a size-capped upper (<see cref="GuestOverlay"/>),
/// symlinks, size-capped tmpfs work dirs), moves /proc, /sys and /dev into it and makes it the root (initramfs cannot
/// be pivot_root'ed: mount --move + chroot, as switch_root does), then sets hostname, clock and RNG, and creates the
/// workload cgroup, and unless the sandbox may nest them, sets user.max_user_namespaces to 0. The agent stays root (so
/// it can place children into the cgroup and power off); every child is spawned from a thread of its own that took
/// the workload's identity and capabilities (none; guest root keeps a fixed few, <see cref="WorkloadCredentials"/>),
/// no_new_privs and the sandbox's seccomp filter (<see cref="Spawn"/>, by <see cref="GuestConfinement"/>).
/// </summary>
internal sealed unsafe class GuestSetup : SpawnConfinement
{
    private const string NewRoot = "/newroot";
    private const string SharesDir = "/shares";
    private const string WorkloadCgroup = "/sys/fs/cgroup/sandbox";
    private const int MaxSeedBytes = 512;
    private const int MaxResolvConfBytes = 1024;
    private const string ResolvConfFile = "/resolv.conf"; // in the initramfs, bound over the root's

    private readonly Lock _lock = new();
    private bool _done;
    private string? _templateRoot; // the root a template's set-up built (RootOf), until a clone's set-up takes it over
    private List<GuestOverlay> _overlays = []; // the root's writable overlays (a clone resets the template's)
    private string? _maxUserNamespaces; // the kernel's value before set-up wrote 0
    private uint _uid;
    private uint _gid;
    private byte[] _seccomp = [];
    private HolderNamespaces? _podWorkload; // a pod VM's: the namespaces of its own workload (GuestWorkloadHolder)
    private int _workloadCgroupFd = -1; // the workload cgroup's directory, where every workload process is born

    /// <summary>The initramfs's root (O_PATH), opened before the switch: the agent's own binary, loader and libraries,
    /// the guest's devtmpfs (loop devices) stay reachable through it for a pod's containers. -1 before set-up.</summary>
    public int InitramfsFd { get; private set; } = -1;

    /// <summary>The file name of the glibc loader in the initramfs's /lib64.</summary>
    public string LoaderName { get; private set; } = "";

    /// <summary>The pod share (SetupGuestRequest.pod_share), mounted in the initramfs: O_PATH of its directory, -1 when
    /// the guest has none.</summary>
    public int PodShareFd { get; private set; } = -1;

    public override WorkloadUser DefaultUser => new(_uid, _gid);

    /// <summary>ControlContainer with no container id: every process of the guest's own workload (its cgroup; a pod
    /// VM's holder sits outside it), listed or signalled; never the agent.</summary>
    public GuestCgroupControl Workload { get; } = new("the guest's own workload", WorkloadCgroup, holderPid: 0, listAndSignalOnly: true);

    /// <summary>The guest's agent is root and the VM's PID 1; guest root may be the workload's user too (the VM is
    /// the boundary): what sets the agent apart is the capabilities the workload never gets.</summary>
    public override WorkloadUser? AgentUser => null;

    public bool IsSetUp
    {
        get { lock (_lock) return _done; }
    }

    public void Apply(SetupGuestRequest request)
    {
        lock (_lock)
        {
            if (_done && _templateRoot is null) throw new TtrpcException(StatusCode.FailedPrecondition, "the guest is already set up");
            Validate(request);
            if (request.Template && request.Mounts.Any(m => !request.BlockDevices.Any(d => d.Tag == m.Tag)))
                throw new TtrpcException(StatusCode.InvalidArgument, "a template's root must come from block devices only (a mounted 9p share blocks the snapshot)");
            try
            {
                if (_templateRoot is null)
                {
                    _overlays = BuildRoot(request);
                    if (request.Template) _templateRoot = RootOf(request);
                }
                else
                {
                    // A clone of a template: the root is the template's; only its writable dirs are made anew.
                    if (request.Template) throw new TtrpcException(StatusCode.FailedPrecondition, "the guest is already a template");
                    if (RootOf(request) != _templateRoot)
                        throw new TtrpcException(StatusCode.FailedPrecondition, "the sandbox's root differs from the root of the template it was restored from");
                    RemountWritableDirs(request);
                    foreach (var overlay in _overlays)
                        overlay.ResetForClone(request.DiskBytes);
                    _templateRoot = null;
                }
                BootTimeline.Mark("setup-root");
                GuestIdentity.Apply(request);
                GuestNetworkSetup.Apply(request.Network);
                CreateCgroup(request);
                if (_workloadCgroupFd < 0)
                {
                    _workloadCgroupFd = NativeStrings.With(WorkloadCgroup, p => Libc.open((byte*)p, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0));
                    if (_workloadCgroupFd < 0) throw Fail("open " + WorkloadCgroup);
                }
                _maxUserNamespaces ??= File.ReadAllText("/proc/sys/user/max_user_namespaces").Trim();
                File.WriteAllText("/proc/sys/user/max_user_namespaces", request.AllowNestedUserNamespaces ? _maxUserNamespaces : "0");
                // Last, so its UTS namespace has the hostname: a pod's own workload (CRI's pause container) is kept
                // out of the guest's root pid namespace, where the app containers' processes are.
                if (request.PodShare.Length > 0)
                    _podWorkload = GuestWorkloadHolder.Start(this).Namespaces;
            }
            catch (IOException e)
            {
                throw new TtrpcException(StatusCode.Internal, "guest setup failed: " + e.Message);
            }
            _uid = request.Uid;
            _gid = request.Gid;
            _seccomp = request.SeccompProgram.ToByteArray();
            _done = true;
            AgentLog.Info($"guest set up: {request.Mounts.Count} share(s), hostname {request.Hostname}, workload uid {_uid}");
        }
    }

    private static void Validate(SetupGuestRequest request)
    {
        foreach (var path in request.Mounts.Select(m => m.Path).Concat(request.Symlinks.Select(s => s.Path)).Concat(request.WritableDirs))
        {
            FileService.ValidatePath(path);
            if (path.Split('/').Contains("..")) throw new TtrpcException(StatusCode.InvalidArgument, $"path '{path}' contains '..'");
        }
        foreach (var m in request.Mounts)
        {
            if (m.Subpath.Split('/').Contains("..") || m.Subpath.StartsWith('/'))
                throw new TtrpcException(StatusCode.InvalidArgument, $"subpath '{m.Subpath}' must be relative without '..'");
            if (m.Tag.Length is 0 or > 31 || m.Tag.Any(c => !char.IsAsciiLetterOrDigit(c) && c != '_'))
                throw new TtrpcException(StatusCode.InvalidArgument, $"mount tag '{m.Tag}' must be 1..31 characters of [A-Za-z0-9_]");
        }
        GuestHostMounts.Validate(request);
        GuestConfinement.ValidateSeccompProgram(request.SeccompProgram.Length);
        foreach (var d in request.BlockDevices)
        {
            if (d.Tag.Length is 0 or > 31 || d.Tag.Any(c => !char.IsAsciiLetterOrDigit(c) && c != '_'))
                throw new TtrpcException(StatusCode.InvalidArgument, $"block device tag '{d.Tag}' must be 1..31 characters of [A-Za-z0-9_]");
            if (d.Serial.Length is 0 or > 20 || d.Serial.Any(c => !char.IsAsciiLetterOrDigit(c) && c != '-'))
                throw new TtrpcException(StatusCode.InvalidArgument, $"block device serial '{d.Serial}' must be 1..20 characters of [A-Za-z0-9-]");
            if (d.FsType != "erofs")
                throw new TtrpcException(StatusCode.InvalidArgument, $"block device file system '{d.FsType}' is not supported (erofs)");
            if (d.WritableOverlay && request.DiskBytes <= 0)
                throw new TtrpcException(StatusCode.InvalidArgument, $"block device '{d.Tag}': a writable overlay needs disk_bytes for its upper layer");
        }
        if (request.Network?.ResolvConf is { Length: > MaxResolvConfBytes })
            throw new TtrpcException(StatusCode.InvalidArgument, $"resolv.conf of {request.Network.ResolvConf.Length} characters: at most {MaxResolvConfBytes}");
        if (request.PodShare.Length > 0 && (request.Template || request.PodShare.Length > 31 || request.PodShare.Any(c => !char.IsAsciiLetterOrDigit(c) && c != '_')))
            throw new TtrpcException(StatusCode.InvalidArgument, $"pod share '{request.PodShare}' must be 1..31 characters of [A-Za-z0-9_], and not in a template");
        if (request.RandomSeed.Length > MaxSeedBytes) throw new TtrpcException(StatusCode.InvalidArgument, "random seed over 512 bytes");
        if (request.Hostname.Length is 0 or > 64) throw new TtrpcException(StatusCode.InvalidArgument, "hostname must be 1..64 characters");
        if (request.Uid > ExecUser.MaxId || request.Gid > ExecUser.MaxId)
            throw new TtrpcException(StatusCode.InvalidArgument, $"workload user {request.Uid}:{request.Gid}: ids must be 0..{ExecUser.MaxId}");
        if (request.MemoryBytes <= 0 || request.PidsMax <= 0 || request.DiskBytes <= 0 || request.CpuQuotaUsec < 0)
            throw new TtrpcException(StatusCode.InvalidArgument, "memory, pids and disk limits must be positive");
    }

    /// <summary>What makes up a root (mounts, symlinks, block devices, writable dirs), to compare a clone's with its
    /// template's.</summary>
    private static string RootOf(SetupGuestRequest request)
    {
        var root = new SetupGuestRequest();
        root.Mounts.AddRange(request.Mounts);
        root.Symlinks.AddRange(request.Symlinks);
        root.BlockDevices.AddRange(request.BlockDevices);
        root.WritableDirs.AddRange(request.WritableDirs);
        return root.ToString();
    }

    /// <summary>A clone's writable dirs: the template's tmpfs mounts (and whatever its warm-up left in them) are
    /// detached and fresh ones mounted with the clone's size and owner.</summary>
    private static void RemountWritableDirs(SetupGuestRequest request)
    {
        foreach (var dir in request.WritableDirs)
        {
            Check(NativeStrings.With(dir, p => Libc.umount2((byte*)p, Libc.MNT_DETACH)), "umount " + dir);
            MountWritableDir(dir, dir, request);
        }
    }

    private static void MountWritableDir(string dir, string target, SetupGuestRequest request)
    {
        var mode = dir == "/tmp" ? "1777" : "0755";
        GuestInit.Mount("tmpfs", target, "tmpfs", Libc.MS_NOSUID | Libc.MS_NODEV,
            $"size={request.DiskBytes},mode={mode},uid={request.Uid},gid={request.Gid}");
    }

    private List<GuestOverlay> BuildRoot(SetupGuestRequest request)
    {
        var overlays = new List<GuestOverlay>();
        Directory.CreateDirectory(NewRoot);
        GuestInit.Mount("rootfs", NewRoot, "tmpfs", Libc.MS_NOSUID | Libc.MS_NODEV, "size=1m,mode=0755");
        // Each share is mounted once under /shares (in the initramfs, unreachable after the switch) and its parts are
        // bound into the new root: a directory rootfs may have plain files at its top level.
        // A block device's tag names a read-only image (erofs) instead of a 9p share.
        foreach (var tag in request.Mounts.Select(m => m.Tag).Distinct(StringComparer.Ordinal))
        {
            var share = SharesDir + "/" + tag;
            Directory.CreateDirectory(share);
            if (request.BlockDevices.FirstOrDefault(d => d.Tag == tag) is { WritableOverlay: true } writable)
                overlays.Add(GuestOverlay.Mount(BlockDeviceBySerial(writable.Serial), writable.FsType, share, request.DiskBytes));
            else if (request.BlockDevices.FirstOrDefault(d => d.Tag == tag) is { } device)
                GuestInit.Mount(BlockDeviceBySerial(device.Serial), share, device.FsType, Libc.MS_RDONLY | Libc.MS_NOSUID | Libc.MS_NODEV, null);
            else
                GuestInit.Mount(tag, share, "9p", Libc.MS_RDONLY | Libc.MS_NOSUID | Libc.MS_NODEV,
                    "trans=virtio,version=9p2000.L,msize=262144,cache=loose");
        }
        foreach (var m in request.Mounts)
        {
            var source = SharesDir + "/" + m.Tag + (m.Subpath.Length > 0 ? "/" + m.Subpath : "");
            var target = NewRoot + m.Path;
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            if (Directory.Exists(source)) Directory.CreateDirectory(target);
            else File.WriteAllBytes(target, []);
            GuestInit.Mount(source, target, null, Libc.MS_BIND | Libc.MS_REC, null);
        }
        foreach (var link in request.Symlinks)
        {
            var path = NewRoot + link.Path;
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.CreateSymbolicLink(path, link.Target);
        }
        GuestHostMounts.MountAll(request.HostMounts, NewRoot, SharesDir);
        GuestHostMounts.MountScratch(request.ScratchMounts, NewRoot);
        if (request.Network?.ResolvConf is { Length: > 0 } resolvConf)
            CoverResolvConf(resolvConf);
        foreach (var dir in new[] { "/proc", "/sys", "/dev" })
            Directory.CreateDirectory(NewRoot + dir);
        foreach (var dir in request.WritableDirs)
        {
            var target = NewRoot + dir;
            Directory.CreateDirectory(target);
            MountWritableDir(dir, target, request);
        }
        foreach (var dir in new[] { "/proc", "/sys" })
            GuestInit.Mount(dir, NewRoot + dir, null, Libc.MS_MOVE, null);
        KeepInitramfs(request.PodShare);
        // The agent keeps using /sys (the workload cgroup, devices); the workload has no business there (a container
        // has no /sys at all): root-only.
        File.SetUnixFileMode(NewRoot + "/sys", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        GuestDev.Build(NewRoot + "/dev", newPtsInstance: false);
        // switch_root: make the new root "/" and enter it. The initramfs stays underneath, unreachable.
        Check(NativeStrings.With(NewRoot, p => Libc.chdir((byte*)p)), "chdir " + NewRoot);
        GuestInit.Mount(".", "/", null, Libc.MS_MOVE, null);
        Check(NativeStrings.With(".", p => Libc.chroot((byte*)p)), "chroot");
        Check(NativeStrings.With("/", p => Libc.chdir((byte*)p)), "chdir /");
        GuestInit.Mount("rootfs", "/", null, Libc.MS_REMOUNT | Libc.MS_RDONLY | Libc.MS_NOSUID | Libc.MS_NODEV, null);
        return overlays;
    }

    /// <summary>Before the switch: descriptors of what a pod's later containers need from the initramfs (the loader and
    /// binary their holder runs, the loop devices) and of the pod share, mounted here read-only, out of the root's
    /// reach.</summary>
    private void KeepInitramfs(string podShare)
    {
        InitramfsFd = OpenPath("/");
        LoaderName = Path.GetFileName(Directory.GetFiles("/lib64", "ld-linux*").Single());
        if (podShare.Length == 0) return;
        var share = SharesDir + "/" + podShare;
        Directory.CreateDirectory(share);
        GuestInit.Mount(podShare, share, "9p", Libc.MS_RDONLY | Libc.MS_NOSUID | Libc.MS_NODEV | Libc.MS_NOEXEC,
            "trans=virtio,version=9p2000.L,msize=262144,cache=none");
        PodShareFd = OpenPath(share);
    }

    private static int OpenPath(string path)
    {
        int fd = NativeStrings.With(path, p => Libc.open((byte*)p, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0));
        if (fd < 0) throw Fail("open " + path);
        return fd;
    }

    /// <summary>The sandbox resolver's resolv.conf, bound read-only over the root's /etc/resolv.conf, as the container
    /// tier does: only when /etc and the file are a real directory and a regular file (a link in an image would be
    /// followed here, in the initramfs, not in the sandbox's root); otherwise the root keeps its own.</summary>
    private static void CoverResolvConf(string content)
    {
        var etc = new DirectoryInfo(NewRoot + "/etc");
        var target = new FileInfo(NewRoot + "/etc/resolv.conf");
        if (!etc.Exists || etc.LinkTarget is not null || !target.Exists || target.LinkTarget is not null)
            return;
        File.WriteAllText(ResolvConfFile, content);
        GuestInit.Mount(ResolvConfFile, target.FullName, null, Libc.MS_BIND, null);
        GuestInit.Mount(ResolvConfFile, target.FullName, null, Libc.MS_BIND | Libc.MS_REMOUNT | Libc.MS_RDONLY | Libc.MS_NOSUID | Libc.MS_NODEV, null);
    }

    /// <summary>/dev/vdX of the virtio-blk disk whose serial the host set (-device ...,serial=): by name, not by probe
    /// order.</summary>
    private static string BlockDeviceBySerial(string serial)
    {
        foreach (var dir in Directory.EnumerateDirectories("/sys/block", "vd*"))
        {
            var file = Path.Combine(dir, "serial");
            if (File.Exists(file) && File.ReadAllText(file).Trim() == serial)
                return "/dev/" + Path.GetFileName(dir);
        }
        throw new IOException($"no virtio block device with serial {serial}");
    }

    /// <summary>Enables the controllers and creates the (still empty, unlimited) workload cgroup. Run at boot, before
    /// "ready": a snapshot template then holds it, and a restored guest only writes its limits (enabling the memory
    /// controller costs tens of milliseconds under TCG).</summary>
    public static void PrepareCgroup()
    {
        File.WriteAllText(Path.Combine(GuestConfinement.CgroupRoot, "cgroup.subtree_control"), "+memory +pids +cpu");
        Directory.CreateDirectory(WorkloadCgroup);
    }

    private static void CreateCgroup(SetupGuestRequest request)
    {
        if (!Directory.Exists(WorkloadCgroup))
            PrepareCgroup();
        File.WriteAllText(Path.Combine(WorkloadCgroup, "memory.max"), request.MemoryBytes.ToString());
        File.WriteAllText(Path.Combine(WorkloadCgroup, "pids.max"), request.PidsMax.ToString());
        if (request.CpuQuotaUsec > 0)
            File.WriteAllText(Path.Combine(WorkloadCgroup, "cpu.max"), $"{request.CpuQuotaUsec} 100000");
    }

    /// <summary>
    /// The child is born in the workload cgroup and takes on the workload's confinement for good before it runs
    /// anything (<see cref="GuestSpawn"/>): the workload's groups, gid and uid, its capabilities (none, or guest root's
    /// few: the bounding set cut to them too), no_new_privs, and last the sandbox's seccomp filter. The agent itself
    /// keeps root and no filter, and never enters the workload cgroup: no window in which the child could fork outside
    /// the limits (charges already made by the agent stay where they were). Its terminal is opened with the workload's
    /// file-system ids, so the slave belongs to the workload. A pod VM's workload is born in its own mount, pid, UTS and
    /// IPC namespaces (<see cref="GuestWorkloadHolder"/>), entered first by a thread of its own.
    /// </summary>
    public override T Spawn<T>(Func<GuestBirth?, T> spawn, WorkloadUser user)
    {
        int cgroup;
        HolderNamespaces? namespaces;
        byte[] seccomp;
        lock (_lock)
        {
            if (!_done) throw new TtrpcException(StatusCode.FailedPrecondition, "the guest is not set up yet (SetupGuest first)");
            (cgroup, namespaces, seccomp) = (_workloadCgroupFd, _podWorkload, _seccomp);
        }
        return GuestConfinement.Spawn(cgroup, namespaces, user, seccomp, spawn);
    }

    public override T AsUser<T>(WorkloadUser user, Func<T> operation)
    {
        if (!IsSetUp) throw new TtrpcException(StatusCode.FailedPrecondition, "the guest is not set up yet (SetupGuest first)");
        return GuestConfinement.WithFsIds(user, operation);
    }

    public override long OomKillCount() => GuestConfinement.OomKills(WorkloadCgroup);

    private static void Check(int rc, string what)
    {
        if (rc != 0) throw Fail(what);
    }

    internal static IOException Fail(string what) => new($"{what}: {Errno.Name(Marshal.GetLastPInvokeError())}");
}
