using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using Sandbox.Core;
using Sandbox.Isolation.Container;
using Sandbox.Isolation.MicroVm;
using Sandbox.KataShim.Cli;
using Sandbox.KataShim.Events;
using Sandbox.KataShim.Interop;
using Sandbox.KataShim.Tasks;
using Sandbox.Policy;
using Sandbox.Ttrpc;

namespace Sandbox.KataShim.Daemon;

/// <summary>The long-lived shim process `start` spawns: its own session, stdio off containerd's pipes (stderr to the
/// bundle's `log` FIFO), a ttrpc server on its socket, Core composed in-process with this host's drivers. It tells
/// `start` it is ready with one line on stdout ("ok" or "error: …"): EOF cannot be the signal, since the runtime keeps
/// duplicates of the standard descriptors. It exits when Shutdown finds no task left, or on SIGTERM/SIGINT.</summary>
internal static class ShimDaemon
{
    public const string CgroupParent = "sandbox-shim";

    /// <summary>A container lives until containerd deletes it; Core bounds a sandbox's life (and its processes' wall
    /// time) at 30 days, the engine's maximum, and nothing reaps it earlier here (no TTL reaper runs in the shim).</summary>
    private static readonly TimeSpan ContainerLifetime = TimeSpan.FromDays(30);

    public static async Task<int> RunAsync(ShimArguments args)
    {
        Libc.Setsid();
        // One malloc arena: glibc gives threads arenas of their own (up to 8 per CPU), each holding pages a daemon
        // that idles for a container's life never gives back. The runtime's own allocations are few.
        Libc.Mallopt(Libc.M_ARENA_MAX, 1);
        RedirectStdio();
        // containerd starts us in the bundle (0700 root); the engine's helpers drop to the sandbox's unprivileged
        // uid and must not inherit a working directory they cannot reach (bwrap fails on it).
        Directory.SetCurrentDirectory("/");
        using var stderr = new StreamWriter(new FileStream(new SafeFileHandle(2, ownsHandle: false), FileAccess.Write, 1), new UTF8Encoding(false));
        var logger = new LogfmtLogger(stderr, args.Debug ? LogLevel.Debug : LogLevel.Information);
        Socket listener;
        try
        {
            listener = Listen(args.Socket);
        }
        catch (Exception e) when (e is SocketException or IOException or UnauthorizedAccessException)
        {
            Ready($"error: listen on {args.Socket}: {e.Message}");
            return 1;
        }
        using var stop = new CancellationTokenSource();
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
        // The agent's directory: $SANDBOX_AGENT_DIR (inherited from containerd's environment) when set, else the engine's
        // search path (the installed locations). The engine itself reads no environment.
        var agent = Environment.GetEnvironmentVariable(Sandbox.Isolation.Agent.AgentBundle.EnvironmentVariable) is { Length: > 0 } dir ? dir : null;
        var policy = new OnDemandPolicy(() => EmbeddedPolicyEngine.CreateDefault(new HostCeilings(), new CategoryLogger<EmbeddedPolicyEngine>(logger)));
        await using var core = SandboxCore.Create(
            new SandboxCoreOptions { DefaultTtl = ContainerLifetime, MaxTtl = ContainerLifetime },
            policy,
            [new BubblewrapDriver(new BubblewrapOptions { CgroupParent = CgroupParent, AgentDirectory = agent }),
                new MicroVmDriver(new MicroVmOptions { CgroupParent = CgroupParent + "-vm", AgentDirectory = agent })],
            logger);
        await using var events = new EventForwarder(Environment.GetEnvironmentVariable("TTRPC_ADDRESS"), args.Namespace, logger);
        var tasks = new TaskService(core, new Principal(ShimTenant.Name, "ns:" + args.Namespace), events, args.Namespace, logger,
            () => stop.Cancel(), args.Address);
        var server = new TtrpcServer(logger);
        tasks.Register(server);
        Ready("ok");
        ShimLog.Serving(logger, args.Socket, args.Namespace, Environment.ProcessId);
        policy.Prewarm();
        HeapTrim.AfterBurst(logger, "start-up");
        try
        {
            await server.ServeAsync(listener, stop.Token).ConfigureAwait(false);
        }
        finally
        {
            listener.Dispose();
            File.Delete(args.Socket);
            if (!tasks.IsEmpty)
                await core.Sandboxes.RemoveAllAsync().ConfigureAwait(false);
            ShimLog.Exiting(logger, tasks.IsEmpty ? "no task left" : "signalled; its sandboxes were removed");
        }
        return 0;
    }

    private static Socket Listen(string path)
    {
        var dir = Path.GetDirectoryName(path)!;
        if (!Directory.Exists(dir))
            Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(new UnixDomainSocketEndPoint(path));
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            socket.Listen(128);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>stdin from /dev/null and stderr into the bundle's `log` FIFO (cwd is the bundle; containerd holds the
    /// FIFO open for reading), before anything could write to the inherited pipes.</summary>
    private static void RedirectStdio()
    {
        var devnull = Libc.Open("/dev/null", Libc.O_RDWR | Libc.O_CLOEXEC, 0);
        if (devnull >= 0)
        {
            Libc.Dup2(devnull, 0);
            Libc.Close(devnull);
        }
        var log = Libc.Open("log", Libc.O_WRONLY | Libc.O_NONBLOCK | Libc.O_CLOEXEC, 0);
        if (log < 0)
            log = Libc.Open("/dev/null", Libc.O_WRONLY | Libc.O_CLOEXEC, 0);
        if (log >= 0)
        {
            Libc.Dup2(log, 2);
            Libc.Close(log);
        }
    }

    /// <summary>One line to `start` on stdout, then stdout points to /dev/null so nothing holds containerd's pipe.</summary>
    private static void Ready(string line)
    {
        var bytes = Encoding.UTF8.GetBytes(line + "\n");
        using (var stdout = new FileStream(new SafeFileHandle(1, ownsHandle: false), FileAccess.Write, 1))
        {
            try
            {
                stdout.Write(bytes);
            }
            catch (IOException)
            {
                // start gave up waiting: nothing to tell.
            }
        }
        var devnull = Libc.Open("/dev/null", Libc.O_WRONLY | Libc.O_CLOEXEC, 0);
        if (devnull >= 0)
        {
            Libc.Dup2(devnull, 1);
            Libc.Close(devnull);
        }
    }
}
