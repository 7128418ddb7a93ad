using System.Net.Sockets;
using Sandbox.Agent;
using Sandbox.Agent.Interop;
using Sandbox.Ttrpc;

// sandbox-agent --fd N [--root DIR]      serve ttrpc on an inherited, connected unix stream socket
// sandbox-agent --serial PATH [--root DIR] serve ttrpc on a character device (virtio-serial port)
// sandbox-agent --listen-fd N [--root DIR] accept host connections on an inherited listening unix socket (survives
//                                          the host's restarts; see ListenMode)
// Exits when the peer closes the connection, or after a Shutdown call.
return await AgentMain.RunAsync(args);

internal static class AgentMain
{
    public static async Task<int> RunAsync(string[] args)
    {
        int fd = -1;
        int listenFd = -1;
        string? serial = null;
        string root = "/";
        int nproc = 0;
        (uint Uid, uint Gid)? workload = null;
        (ulong OpenFiles, ulong FileSize)? rlimits = null;
        // Before anything else: the workload may run as our uid (containers) and must not open /proc/<agent>/mem,
        // list our descriptors or read our environment. A non-dumpable process's /proc files need CAP_SYS_PTRACE over
        // its user namespace, which no workload holds.
        Libc.prctl(Libc.PR_SET_DUMPABLE, 0, 0, 0, 0);
        // Started through the bundled loader, the process would be named after it; name it for ps and for the host.
        SetProcessName("sandbox-agent");
        // The first stage of a held exec (container tier): synchronous, on this main thread, before anything else.
        if (args.Length > 0 && args[0] == HeldExec.Flag) return HeldExec.Run(args);
        // PID 1 of a pod's second container in a guest (it is PID 1 too: dispatched before the guest's init below).
        if (args.Length > 0 && args[0] == PodContainerInit.Flag) return PodContainerInit.Run(args);
        // PID 1 without a host channel argument: the kernel ran us as /init of a microVM guest. The kernel hands init
        // the command-line words it does not know itself (e.g. tsc=reliable), so arguments are not parsed there. (In a
        // container the agent is PID 1 too, bwrap --as-pid-1, and is always given --fd or --listen-fd.)
        bool container = args.Length > 0 && (args[0] is "--fd" or "--listen-fd");
        if (Libc.getpid() == 1 && !container) return await RunGuestAsync().ConfigureAwait(false);
        if (Libc.getpid() == 1) InitSignals.IgnoreTermination();
        // The host connection's socket completions run on the socket engine's thread instead of hopping to the thread
        // pool: its continuations are the ttrpc read loop (which hands each call to the pool itself) and the frame
        // writer, neither of which blocks; one wake-up fewer per call (per exec, its Exec and its next Prepare). Read by
        // the runtime when the first socket is made, below.
        Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");
        bool guest = false;
        for (int i = 0; i < args.Length; i++)
        {
            string? Next() => i + 1 < args.Length ? args[++i] : null;
            switch (args[i])
            {
                case "--fd" when int.TryParse(Next(), out var n) && n >= 0: fd = n; break;
                case "--listen-fd" when int.TryParse(Next(), out var l) && l >= 0: listenFd = l; break;
                case "--serial" when Next() is { } p: serial = p; break;
                case "--root" when Next() is { } r: root = r; break;
                case "--nproc" when int.TryParse(Next(), out var np) && np > 0: nproc = np; break;
                case "--workload-user" when ParseUser(Next()) is { } user: workload = user; break;
                case "--rlimits" when ParseRlimits(Next()) is { } limits: rlimits = limits; break;
                case "--quiet": AgentLog.Quiet = true; break;
                case "--guest": guest = true; break;
                case "--version":
                    AgentLog.WriteFd(1, AgentService.Version + "\n");
                    return 0;
                default:
                    return Usage($"bad argument: {args[i]}");
            }
        }
        if (guest) return await RunGuestAsync().ConfigureAwait(false);
        // A container's rlimits, set by the agent on itself before it serves anything (everything it starts inherits
        // them): one exec less in the host's launch chain than util-linux prlimit.
        if (rlimits is { } own && SandboxRlimits.Apply(own.OpenFiles, own.FileSize) is { } failed)
        {
            AgentLog.Info($"cannot set the sandbox's rlimits: {failed}");
            return 2;
        }
        CloseInheritedOnExec();
        ContainerConfinement? confinement = null;
        if (workload is { } w)
        {
            // A container that gave the agent a uid of its own (the host's uid range): children become the workload user.
            try
            {
                confinement = new ContainerConfinement(w.Uid, w.Gid);
            }
            catch (Exception e)
            {
                AgentLog.Info($"cannot set up the workload user: {e.Message}");
                return 2;
            }
        }
        if (listenFd >= 0 && fd < 0 && serial is null)
        {
            EnsureStandardFds();
            return await ListenMode.RunAsync(listenFd, new AgentOptions { Root = root, ReapAllChildren = true, NprocLimit = nproc, Container = confinement }).ConfigureAwait(false);
        }
        if ((fd < 0) == (serial is null)) return Usage("exactly one of --fd or --serial is required");

        EnsureStandardFds();
        Stream stream;
        try
        {
            // The inherited host channel must not leak into the processes the agent starts: with it they could read
            // or forge the host's traffic with the agent.
            if (fd >= 0 && Libc.fcntl(fd, Libc.F_SETFD, Libc.FD_CLOEXEC) != 0)
                throw new IOException($"fcntl(F_SETFD, FD_CLOEXEC) on fd {fd} failed");
            stream = fd >= 0
                ? new NetworkStream(new Socket(new SafeSocketHandle(fd, ownsHandle: true)), ownsSocket: true)
                : OpenSerial(serial!);
        }
        catch (Exception e)
        {
            AgentLog.Info($"cannot open the host connection: {e.Message}");
            return 2;
        }

        return await ServeAsync(stream, new AgentOptions { Root = root, ReapAllChildren = true, NprocLimit = nproc, Container = confinement }).ConfigureAwait(false);
    }

    /// <summary>microVM guest: set the machine up, serve the host on the virtio-serial port, power off at the end.
    /// PID 1 must never return (the kernel would panic), so every path ends in a power-off.</summary>
    private static async Task<int> RunGuestAsync()
    {
        BootTimeline.Enabled = true;
        BootTimeline.Mark("agent-main");
        // One vCPU means a thread pool of one worker, and the port's reads block a worker (a character device has no
        // async I/O): the first request then waited for the pool's starvation injection, ~1 s of every cold boot.
        ThreadPool.SetMinThreads(GuestMinThreads, GuestMinThreads);
        try
        {
            EnsureStandardFds();
            var port = GuestInit.Boot();
            var stream = OpenSerial(port);
            await ServeAsync(stream, new AgentOptions { Root = "/", ReapAllChildren = true, Guest = new GuestSetup() }).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            AgentLog.Info("guest init failed: " + e.Message);
        }
        GuestInit.PowerOff();
        return 1;
    }

    private static async Task<int> ServeAsync(Stream stream, AgentOptions options)
    {
        var root = options.Root;
        using var service = new AgentService(options);
        var server = new TtrpcServer();
        service.Register(server);
        AgentLog.Info($"ready: version {AgentService.Version}, pid {Libc.getpid()}, root {root}");
        BootTimeline.Mark("serving");
        var serving = server.ServeConnectionAsync(stream);
        var first = await Task.WhenAny(serving, service.ShutdownRequested).ConfigureAwait(false);
        // A microVM guest that outlives its owner: the virtio-serial port reads EOF while no host is connected, and
        // data again once one is (QEMU's chardev reconnects). Processes and exec state live in the service, not in
        // the connection, so a new session carries on where the old host left off.
        while (first == serving && service.SurviveHostDisconnect)
        {
            AgentLog.Info("host connection lost; waiting for a host to connect again");
            await Task.WhenAny(Task.Delay(HostReconnectPoll), service.ShutdownRequested).ConfigureAwait(false);
            if (service.ShutdownRequested.IsCompleted) break;
            server = new TtrpcServer();
            service.Register(server);
            serving = server.ServeConnectionAsync(stream);
            first = await Task.WhenAny(serving, service.ShutdownRequested).ConfigureAwait(false);
        }
        int killed = service.KillAll();
        AgentLog.Info(first == serving ? $"host closed the connection; killed {killed} process group(s); exiting" : "shutting down");
        await stream.DisposeAsync().ConfigureAwait(false);
        return 0;
    }

    /// <summary>Thread pool workers the guest agent may start without the pool's injection delay.</summary>
    private const int GuestMinThreads = 8;

    /// <summary>While no host is connected a read of the port returns EOF at once (the kernel offers no wait for a
    /// host to connect): the agent looks again this often.</summary>
    private static readonly TimeSpan HostReconnectPoll = TimeSpan.FromMilliseconds(100);

    private static int Usage(string why)
    {
        AgentLog.Info(why);
        AgentLog.Info("usage: sandbox-agent (--fd N | --listen-fd N | --serial PATH) [--root DIR] [--nproc N] [--workload-user UID:GID] [--rlimits NOFILE:FSIZE] [--quiet]");
        return 64;
    }

    /// <summary>"UID:GID", both in [0, 65534].</summary>
    private static (uint, uint)? ParseUser(string? value)
    {
        var parts = value?.Split(':');
        return parts is { Length: 2 } && uint.TryParse(parts[0], out var uid) && uint.TryParse(parts[1], out var gid) && uid <= 65534 && gid <= 65534
            ? (uid, gid)
            : null;
    }

    /// <summary>NOFILE:FSIZE (FSIZE in bytes), both positive.</summary>
    private static (ulong, ulong)? ParseRlimits(string? value)
    {
        var parts = value?.Split(':');
        return parts is { Length: 2 } && ulong.TryParse(parts[0], out var files) && ulong.TryParse(parts[1], out var size) && files > 0 && size > 0
            ? (files, size)
            : null;
    }

    /// <summary>A character device opened once (a virtio-serial port allows one open at a time) and its descriptor
    /// duplicated, so the read side and the write side are separate streams that never wait on each other.</summary>
    private static unsafe DuplexStream OpenSerial(string path)
    {
        int fd = NativeStrings.With(path, p => Libc.open((byte*)p, Libc.O_RDWR | Libc.O_NOCTTY | Libc.O_CLOEXEC, 0));
        if (fd < 0) throw new IOException($"open {path}: {Errno.Name(System.Runtime.InteropServices.Marshal.GetLastPInvokeError())}");
        int dup = Libc.fcntl(fd, Libc.F_DUPFD_CLOEXEC, 3);
        if (dup < 0)
        {
            Libc.close(fd);
            throw new IOException($"dup {path}: {Errno.Name(System.Runtime.InteropServices.Marshal.GetLastPInvokeError())}");
        }
        var read = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true), FileAccess.Read, bufferSize: 0);
        var write = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(dup, ownsHandle: true), FileAccess.Write, bufferSize: 0);
        return new DuplexStream(read, write);
    }

    private static unsafe void SetProcessName(string name)
    {
        NativeStrings.With(name, p => Libc.prctl(Libc.PR_SET_NAME, (ulong)p, 0, 0, 0));
    }

    /// <summary>fds 0-2 must exist, or a pipe could land on them and be clobbered by the dup2s of a spawn.</summary>
    /// <summary>Every descriptor the agent inherited beyond stdio (in a container: the sandbox's user namespace, which
    /// bwrap hands its command) is marked close-on-exec, so none reaches a process the agent starts. The host channel
    /// is marked too (it is the agent's own).</summary>
    private static void CloseInheritedOnExec()
    {
        foreach (var entry in Directory.GetFiles("/proc/self/fd"))
        {
            if (int.TryParse(Path.GetFileName(entry), out var fd) && fd > 2)
                Libc.fcntl(fd, Libc.F_SETFD, Libc.FD_CLOEXEC);
        }
    }

    private static unsafe void EnsureStandardFds()
    {
        for (int i = 0; i < 3; i++)
        {
            if (Libc.fcntl(i, Libc.F_GETFD, 0) >= 0) continue;
            fixed (byte* devNull = "/dev/null\0"u8) Libc.open(devNull, Libc.O_RDWR, 0); // lowest free fd: i (kept open)
        }
    }
}
