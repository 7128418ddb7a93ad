using System.Runtime.InteropServices;
using System.Text;
using Sandbox.Agent.Interop;
using Sandbox.AgentProtocol.V1;
using Sandbox.Ttrpc;

namespace Sandbox.Agent;

/// <summary>
/// A second container in a pod's microVM guest (Kata's one VM per pod): what a container on the container tier gets
/// from bwrap, made by the guest agent inside the one guest. Its root is the erofs image the host put on the pod share,
/// on a read-only loop device, under an overlay whose upper is a tmpfs of the container's disk size; /dev is a small
/// tmpfs with the harmless nodes and a devpts instance of its own; /tmp and the work dir are tmpfs; no /sys. It has its
/// own mount, pid, UTS and IPC namespaces, held by its holder (<see cref="PodContainerInit"/>, its PID 1), its own
/// cgroup (<c>/sys/fs/cgroup/pod-ID</c>: memory, pids, cpu), default user and seccomp program. Every process of it is
/// spawned from a thread that entered those namespaces, born in the container's cgroup, and takes the workload's
/// identity and filter itself before it execs (<see cref="GuestSpawn"/>). The
/// guest's own root (the pod's first container) and the other containers are out of its reach: the holder pivoted
/// into the new root and detached the guest's tree. What is shared is the guest kernel, as in Kata.
/// </summary>
internal sealed unsafe partial class GuestContainer : SpawnConfinement, IDisposable
{
    private const string Stage = "/tmp"; // over-mounted in the new mount namespace only: the staging tmpfs
    private const string Root = Stage + "/root";

    private readonly HolderNamespaces _ns;
    private readonly int _cgroupFd; // the container's cgroup directory, where its processes are born
    private readonly uint _uid, _gid;
    private readonly byte[] _seccomp;

    public string Id { get; }
    public int HolderPid { get; }
    public string Cgroup { get; }

    private GuestContainer(string id, int holderPid, string cgroup, int cgroupFd, HolderNamespaces ns, uint uid, uint gid, byte[] seccomp)
    {
        _cgroupFd = cgroupFd;
        Id = id;
        HolderPid = holderPid;
        Cgroup = cgroup;
        _ns = ns;
        _uid = uid;
        _gid = gid;
        _seccomp = seccomp;
        _control = new GuestCgroupControl($"container {id}", cgroup, holderPid, listAndSignalOnly: false);
    }

    private readonly GuestCgroupControl _control;

    /// <summary>ControlContainer: pause, resume, limits, list and signal, through its cgroup alone (the pod's VM, its
    /// other containers and the agent go on).</summary>
    public ControlContainerResponse Control(ControlContainerRequest request) => _control.Control(request);

    public override WorkloadUser DefaultUser => new(_uid, _gid);

    /// <summary>As in the guest's own root: the agent is root and kept apart by capabilities.</summary>
    public override WorkloadUser? AgentUser => null;

    public override long OomKillCount() => GuestConfinement.OomKills(Cgroup);

    public override T AsUser<T>(WorkloadUser user, Func<T> operation) => GuestConfinement.WithFsIds(user, operation);

    /// <summary>The counters of the container's cgroup (what a container's stats are on the container tier).</summary>
    public StatsResponse Stats()
    {
        long Read(string file) => long.TryParse(File.ReadAllText(Path.Combine(Cgroup, file)).Trim(), out var n) ? n : 0;
        long Key(string file, string key) => File.ReadLines(Path.Combine(Cgroup, file))
            .Select(l => l.Split(' ')).Where(f => f.Length == 2 && f[0] == key).Select(f => long.TryParse(f[1], out var n) ? n : 0).FirstOrDefault();
        try
        {
            return new StatsResponse
            {
                MemoryBytes = Read("memory.current"),
                MemoryPeakBytes = File.Exists(Path.Combine(Cgroup, "memory.peak")) ? Read("memory.peak") : 0,
                CpuUsec = Key("cpu.stat", "usage_usec"),
                Tasks = (int)Read("pids.current"),
                OomKills = Key("memory.events", "oom_kill"),
            };
        }
        catch (IOException e)
        {
            throw new TtrpcException(StatusCode.Internal, $"container {Id}: reading its cgroup: {e.Message}");
        }
    }

    /// <summary>Runs <paramref name="operation"/> where paths resolve in the container's root (a thread that entered its
    /// mount namespace): the exec's program, working directory and user names are looked up there.</summary>
    public T InRoot<T>(Func<T> operation) => GuestConfinement.OnThread(() =>
    {
        _ns.EnterMount();
        return operation();
    });

    public override T Spawn<T>(Func<GuestBirth?, T> spawn, WorkloadUser user)
    {
        // Checked under the spawn lock (re-entered below), which a freeze takes too: no child is born into a frozen
        // cgroup (it would freeze before its exec, and the spawn with it), and no freeze catches one before its exec.
        lock (GuestConfinement.CgroupSpawnLock)
        {
            if (_control.Frozen)
                throw new TtrpcException(StatusCode.FailedPrecondition, $"container {Id} is paused: resume it first");
            return GuestConfinement.Spawn(_cgroupFd, _ns, user, _seccomp, spawn);
        }
    }

    /// <summary>Builds the container (see the class summary); nothing is left behind when a step fails.</summary>
    public static GuestContainer Create(AddContainerRequest request, GuestSetup guest)
    {
        Validate(request);
        if (guest.PodShareFd < 0)
            throw new TtrpcException(StatusCode.FailedPrecondition, "this guest has no pod share: it was not booted for a pod (SetupGuest pod_share)");
        var cgroup = Path.Combine(GuestConfinement.CgroupRoot, "pod-" + request.ContainerId);
        int image = NativeStrings.With(request.ImageFile, p => Libc.openat(guest.PodShareFd, (byte*)p, Libc.O_RDONLY | Libc.O_CLOEXEC | Libc.O_NOFOLLOW, 0));
        if (image < 0)
            throw new TtrpcException(StatusCode.NotFound, $"root image {request.ImageFile} on the pod share: {Errno.Name(Marshal.GetLastPInvokeError())}");
        int holder = -1, cgroupFd = -1;
        try
        {
            Directory.CreateDirectory(cgroup);
            File.WriteAllText(Path.Combine(cgroup, "memory.max"), request.MemoryBytes.ToString());
            File.WriteAllText(Path.Combine(cgroup, "pids.max"), request.PidsMax.ToString());
            if (request.CpuQuotaUsec > 0)
                File.WriteAllText(Path.Combine(cgroup, "cpu.max"), $"{request.CpuQuotaUsec} 100000");
            // Absent without swap accounting (then there is nothing to turn off).
            if (File.Exists(Path.Combine(cgroup, "memory.swap.max")))
                File.WriteAllText(Path.Combine(cgroup, "memory.swap.max"), "0");
            holder = StartHolder(request, guest, image, cgroup);
            cgroupFd = NativeStrings.With(cgroup, p => Libc.open((byte*)p, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0));
            if (cgroupFd < 0) throw GuestSetup.Fail("open " + cgroup);
            var ns = HolderNamespaces.Open(holder);
            AgentLog.Info($"container {request.ContainerId}: holder pid {holder}, root image {request.ImageFile}");
            return new GuestContainer(request.ContainerId, holder, cgroup, cgroupFd, ns, request.Uid, request.Gid, request.SeccompProgram.ToByteArray());
        }
        catch (Exception e)
        {
            if (cgroupFd >= 0) Libc.close(cgroupFd);
            Kill(cgroup, holder);
            if (e is IOException or UnauthorizedAccessException)
                throw new TtrpcException(StatusCode.Internal, $"container {request.ContainerId}: {e.Message}");
            throw;
        }
        finally
        {
            Libc.close(image);
        }
    }

    /// <summary>The container's holder: in its new namespaces the root is assembled under a staging tmpfs and the
    /// hostname set, and the holder is started in the container's cgroup; it mounts /proc and pivots into the root.</summary>
    private static int StartHolder(AddContainerRequest request, GuestSetup guest, int image, string cgroup) =>
        StartHolderInNewNamespaces($"container {request.ContainerId}", readyFd =>
        {
            GuestInit.Mount("stage", Stage, "tmpfs", Libc.MS_NOSUID | Libc.MS_NODEV, "size=64k,mode=0700");
            BuildRoot(request, guest, image);
            GuestIdentity.SetHostname(request.Hostname);
            return GuestConfinement.SpawnInCgroup(cgroup, () => SpawnHolder(guest, readyFd, Root));
        });

    /// <summary>A holder (<see cref="PodContainerInit"/>) started from a thread of its own that first moves into new
    /// mount, pid, UTS and IPC namespaces (its mounts private: nothing propagates back into the guest's root), so the
    /// holder is the new pid namespace's first process, its PID 1. <paramref name="spawn"/> prepares what the holder
    /// needs in those namespaces and starts it with the ready pipe's write end; this returns once the holder said
    /// "ok" on it, and kills the holder otherwise. Shared by a pod's app containers and the pod VM's own workload.</summary>
    internal static int StartHolderInNewNamespaces(string what, Func<int, int> spawn)
    {
        int* ready = stackalloc int[2];
        if (Libc.pipe2(ready, Libc.O_CLOEXEC) != 0) throw GuestSetup.Fail("pipe2");
        int pid = -1;
        int writeEnd = ready[1];
        try
        {
            pid = GuestConfinement.OnThread(() =>
            {
                Check(Libc.unshare(Libc.CLONE_FS | HolderNamespaces.UnshareFlags), "unshare");
                GuestInit.Mount("none", "/", null, Libc.MS_REC | Libc.MS_PRIVATE, null);
                return spawn(writeEnd);
            });
            Libc.close(ready[1]);
            ready[1] = -1;
            var answer = ReadAll(ready[0]);
            if (answer != "ok")
                throw new TtrpcException(StatusCode.Internal, $"{what}: its init did not start: {(answer.Length == 0 ? "it exited" : answer)}");
            return pid;
        }
        catch
        {
            if (pid > 0) Libc.kill(pid, Libc.SIGKILL);
            throw;
        }
        finally
        {
            if (ready[0] >= 0) Libc.close(ready[0]);
            if (ready[1] >= 0) Libc.close(ready[1]);
        }
    }

    /// <summary>The container's root at <see cref="Root"/>: the image on a read-only loop device (released with the
    /// last mount of it), the overlay with its tmpfs upper, /proc and /dev mount points, /dev, the writable dirs.</summary>
    private static void BuildRoot(AddContainerRequest request, GuestSetup guest, int image)
    {
        Directory.CreateDirectory(Root);
        int loop = AttachLoop(guest.InitramfsFd, image);
        try
        {
            using var overlay = GuestOverlay.Mount($"/proc/self/fd/{loop}", "erofs", Root, request.DiskBytes);
        }
        finally
        {
            Libc.close(loop);
        }
        CreateInsideRoot("/proc");
        GuestDev.Build(CreateInsideRoot("/dev"), newPtsInstance: true);
        foreach (var dir in request.WritableDirs)
        {
            var mode = dir == "/tmp" ? "1777" : "0755";
            GuestInit.Mount("tmpfs", CreateInsideRoot(dir), "tmpfs", Libc.MS_NOSUID | Libc.MS_NODEV,
                $"size={request.DiskBytes},nr_inodes={Math.Max(1024, request.DiskBytes / 4096)},mode={mode},uid={request.Uid},gid={request.Gid}");
        }
    }

    /// <summary>A directory at <paramref name="path"/> inside the root, made component by component; a symlink on
    /// the way (the image's own) is refused rather than followed, since this thread's root is still the guest's.</summary>
    private static string CreateInsideRoot(string path)
    {
        var current = Root;
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            current += "/" + part;
            var info = new DirectoryInfo(current);
            if (info.LinkTarget is not null)
                throw new TtrpcException(StatusCode.FailedPrecondition, $"{path} in the container's image is or goes through a symlink ({current[Root.Length..]})");
            if (!info.Exists)
            {
                if (File.Exists(current))
                    throw new TtrpcException(StatusCode.FailedPrecondition, $"{current[Root.Length..]} in the container's image is not a directory");
                Directory.CreateDirectory(current);
            }
        }
        return current;
    }

    /// <summary>A free loop device (the guest's devtmpfs, reached through the initramfs) backed read-only by
    /// <paramref name="image"/>, cleared automatically when its last user (the mount) lets go.</summary>
    private static int AttachLoop(int initramfs, int image)
    {
        int control = NativeStrings.With("dev/loop-control", p => Libc.openat(initramfs, (byte*)p, Libc.O_RDWR | Libc.O_CLOEXEC, 0));
        if (control < 0) throw GuestSetup.Fail("open /dev/loop-control");
        int number;
        try
        {
            number = Libc.ioctl(control, Libc.LOOP_CTL_GET_FREE, null);
            if (number < 0) throw GuestSetup.Fail("LOOP_CTL_GET_FREE");
        }
        finally
        {
            Libc.close(control);
        }
        int loop = NativeStrings.With($"dev/loop{number}", p => Libc.openat(initramfs, (byte*)p, Libc.O_RDWR | Libc.O_CLOEXEC, 0));
        if (loop < 0) throw GuestSetup.Fail($"open /dev/loop{number}");
        byte* config = stackalloc byte[Libc.LoopConfigSize];
        new Span<byte>(config, Libc.LoopConfigSize).Clear();
        *(uint*)config = (uint)image;
        *(uint*)(config + Libc.LoopConfigFlagsOffset) = Libc.LO_FLAGS_READ_ONLY | Libc.LO_FLAGS_AUTOCLEAR;
        if (Libc.ioctl(loop, Libc.LOOP_CONFIGURE, config) != 0)
        {
            var failure = GuestSetup.Fail($"LOOP_CONFIGURE /dev/loop{number}");
            Libc.close(loop);
            throw failure;
        }
        return loop;
    }

    /// <summary>The holder: this agent's binary, run by the initramfs's loader through descriptor 3 (its root), with
    /// the ready pipe as descriptor 4 and /dev/null as its standard streams, in a session of its own; it makes
    /// <paramref name="root"/> its root ("/": the guest's own, <see cref="GuestWorkloadHolder"/>).</summary>
    internal static int SpawnHolder(GuestSetup guest, int readyFd, string root)
    {
        const string Initramfs = "/proc/self/fd/3";
        string loader = $"{Initramfs}/lib64/{guest.LoaderName}";
        string[] argv = [loader, "--library-path", $"{Initramfs}/lib/x86_64-linux-gnu", $"{Initramfs}/init", PodContainerInit.Flag, root];
        using var strings = new NativeStrings();
        byte* actions = stackalloc byte[Libc.FileActionsSize];
        byte* attr = stackalloc byte[Libc.SpawnAttrSize];
        byte* sigmask = stackalloc byte[Libc.SigSetSize];
        byte* sigdef = stackalloc byte[Libc.SigSetSize];
        int rc = Libc.posix_spawn_file_actions_init(actions);
        if (rc != 0) throw new TtrpcException(StatusCode.Internal, "posix_spawn_file_actions_init: " + Errno.Name(rc));
        try
        {
            rc = Libc.posix_spawnattr_init(attr);
            if (rc != 0) throw new TtrpcException(StatusCode.Internal, "posix_spawnattr_init: " + Errno.Name(rc));
            try
            {
                // 3 and 4 are never the source descriptors themselves here (the agent's 0..2 and its sockets come first).
                rc = Libc.posix_spawn_file_actions_adddup2(actions, guest.InitramfsFd, PodContainerInit.InitramfsFd);
                if (rc == 0) rc = Libc.posix_spawn_file_actions_adddup2(actions, readyFd, PodContainerInit.ReadyFd);
                if (rc == 0) rc = Libc.posix_spawn_file_actions_addopen(actions, 0, strings.Add("/dev/null"), Libc.O_RDWR, 0);
                if (rc == 0) rc = Libc.posix_spawn_file_actions_adddup2(actions, 0, 1);
                if (rc == 0) rc = Libc.posix_spawn_file_actions_adddup2(actions, 0, 2);
                Libc.sigemptyset(sigmask);
                Libc.sigfillset(sigdef);
                if (rc == 0) rc = Libc.posix_spawnattr_setsigmask(attr, sigmask);
                if (rc == 0) rc = Libc.posix_spawnattr_setsigdefault(attr, sigdef);
                if (rc == 0) rc = Libc.posix_spawnattr_setflags(attr, (short)(Libc.POSIX_SPAWN_SETSID | Libc.POSIX_SPAWN_SETSIGMASK | Libc.POSIX_SPAWN_SETSIGDEF));
                int pid = 0;
                if (rc == 0) rc = Libc.posix_spawn(&pid, strings.Add(loader), actions, attr, strings.AddArray(argv), strings.AddArray([]));
                if (rc != 0) throw new TtrpcException(StatusCode.Internal, $"starting the container's init: {Errno.Name(rc)}");
                return pid;
            }
            finally
            {
                Libc.posix_spawnattr_destroy(attr);
            }
        }
        finally
        {
            Libc.posix_spawn_file_actions_destroy(actions);
        }
    }

    internal static string ReadAll(int fd)
    {
        var buffer = new byte[1024];
        int total = 0;
        fixed (byte* p = buffer)
        {
            while (total < buffer.Length)
            {
                var n = Libc.read(fd, p + total, (nuint)(buffer.Length - total));
                if (n < 0 && Marshal.GetLastPInvokeError() == Errno.EINTR) continue;
                if (n <= 0) break;
                total += (int)n;
            }
        }
        return Encoding.UTF8.GetString(buffer, 0, total);
    }

    private static void Validate(AddContainerRequest request)
    {
        if (request.ContainerId.Length is 0 or > 64 || request.ContainerId.Any(c => !char.IsAsciiLetterOrDigit(c) && c is not ('_' or '-')))
            throw new TtrpcException(StatusCode.InvalidArgument, "container_id must match [A-Za-z0-9_-]{1,64}");
        if (request.ImageFile.Length is 0 or > 128 || request.ImageFile is "." or ".."
            || request.ImageFile.Any(c => !char.IsAsciiLetterOrDigit(c) && c is not ('_' or '-' or '.')))
            throw new TtrpcException(StatusCode.InvalidArgument, "image_file must be a file name of [A-Za-z0-9_.-]{1,128}");
        foreach (var dir in request.WritableDirs)
        {
            FileService.ValidatePath(dir);
            if (dir == "/" || dir.Split('/').Contains("..") || dir.Split('/').Contains("."))
                throw new TtrpcException(StatusCode.InvalidArgument, $"writable dir '{dir}' must be below / without '.' or '..'");
        }
        GuestConfinement.ValidateSeccompProgram(request.SeccompProgram.Length);
        if (request.Hostname.Length is 0 or > 64) throw new TtrpcException(StatusCode.InvalidArgument, "hostname must be 1..64 characters");
        if (request.Uid > ExecUser.MaxId || request.Gid > ExecUser.MaxId)
            throw new TtrpcException(StatusCode.InvalidArgument, $"workload user {request.Uid}:{request.Gid}: ids must be 0..{ExecUser.MaxId}");
        if (request.MemoryBytes <= 0 || request.PidsMax <= 0 || request.DiskBytes <= 0 || request.CpuQuotaUsec < 0)
            throw new TtrpcException(StatusCode.InvalidArgument, "memory, pids and disk limits must be positive");
    }

    /// <summary>Ends the container: every process in its cgroup (the holder included: the pid namespace, and with it
    /// the mount namespace, its mounts and the loop device, go once it is reaped), then the cgroup.</summary>
    public void Dispose()
    {
        _ns.Dispose();
        Libc.close(_cgroupFd);
        Kill(Cgroup, HolderPid);
    }

    private static void Kill(string cgroup, int holder)
    {
        if (holder > 0) Libc.kill(holder, Libc.SIGKILL);
        if (!Directory.Exists(cgroup)) return;
        try
        {
            File.WriteAllText(Path.Combine(cgroup, "cgroup.kill"), "1");
        }
        catch (IOException)
        {
        }
        // The kill is asynchronous: the cgroup can be removed once its last task is gone (bounded).
        var deadline = Environment.TickCount64 + 5000;
        while (true)
        {
            try
            {
                Directory.Delete(cgroup);
                return;
            }
            catch (IOException) when (Environment.TickCount64 < deadline)
            {
                Thread.Sleep(10);
            }
            catch (IOException e)
            {
                AgentLog.Info($"cgroup {cgroup} was not removed: {e.Message}");
                return;
            }
        }
    }

    private static void Check(int rc, string what)
    {
        if (rc != 0) throw new TtrpcException(StatusCode.Internal, $"{what}: {Errno.Name(Marshal.GetLastPInvokeError())}");
    }
}
