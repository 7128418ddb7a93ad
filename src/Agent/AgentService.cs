using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using Google.Protobuf;
using Sandbox.Agent.Interop;
using Sandbox.AgentProtocol.V1;
using Sandbox.Ttrpc;

namespace Sandbox.Agent;

internal sealed class AgentOptions
{
    /// <summary>The directory ReadFile/WriteFile/ListDir are confined to ("/" in a sandbox; a temp dir in tests).</summary>
    public string Root { get; init; } = "/";

    /// <summary>Reap every child (the agent process, PID 1 or 2). False when hosted inside another .NET process.</summary>
    public bool ReapAllChildren { get; init; } = true;

    /// <summary>Set when the agent is PID 1 of a microVM guest: SetupGuest builds the root and confines children.</summary>
    public GuestSetup? Guest { get; init; }

    /// <summary>Set when the agent runs in a container with a uid of its own: children and file operations get the
    /// workload's identity.</summary>
    public ContainerConfinement? Container { get; init; }

    /// <summary>RLIMIT_NPROC for the processes the agent starts (containers: the sandbox's pids limit; 0 = inherit).</summary>
    public int NprocLimit { get; init; }
}

/// <summary>The sandbox.agent.v1.Agent service. Every call validates its input: the host is trusted, but not blindly.</summary>
internal sealed partial class AgentService : IDisposable
{
    public const string ServiceName = "sandbox.agent.v1.Agent";
    public const string Version = "0.1.0";
    public const int MaxChunk = 1 << 20;
    private const int MaxArgs = 4096;
    private const int MaxArgBytes = 1 << 20;

    private readonly IoLoop _io;
    private readonly ProcessTable _processes;
    private FileService _files;
    private readonly GuestSetup? _guest;
    private readonly SpawnConfinement? _confinement;
    private readonly GuestContainers? _containers;
    private readonly TaskCompletionSource _shutdown = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public AgentService(AgentOptions options)
    {
        _io = new IoLoop();
        _guest = options.Guest;
        _confinement = (SpawnConfinement?)options.Guest ?? options.Container;
        _processes = new ProcessTable(_io, options.ReapAllChildren, _confinement) { NprocLimit = options.NprocLimit };
        _files = new FileService(options.Root);
        _containers = options.Guest is null ? null : new GuestContainers(options.Guest);
    }

    /// <summary>Completes after a Shutdown call's response was written.</summary>
    public Task ShutdownRequested => _shutdown.Task;

    /// <summary>Set by SetupGuest for a microVM that outlives its owner: a lost host connection ends nothing.</summary>
    public bool SurviveHostDisconnect { get; private set; }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex ExecIdPattern();

    public void Register(TtrpcServer server)
    {
        server.Register<PingRequest, PingResponse>(ServiceName, "Ping", PingRequest.Parser, (r, c) => ValueTask.FromResult(Ping()));
        server.Register<ExecRequest, ExecResponse>(ServiceName, "Exec", ExecRequest.Parser, (r, c) => ExecAsync(r, c.CancellationToken));
        server.Register<ReadOutputRequest, ReadOutputResponse>(ServiceName, "ReadOutput", ReadOutputRequest.Parser, (r, c) => ReadOutputAsync(r, c.CancellationToken));
        server.Register<WriteStdinRequest, WriteStdinResponse>(ServiceName, "WriteStdin", WriteStdinRequest.Parser, (r, c) => WriteStdinAsync(r, c.CancellationToken));
        server.Register<SignalRequest, SignalResponse>(ServiceName, "Signal", SignalRequest.Parser, (r, c) => ValueTask.FromResult(Signal(r)));
        server.Register<ResizeTtyRequest, ResizeTtyResponse>(ServiceName, "ResizeTty", ResizeTtyRequest.Parser, (r, c) =>
        {
            if (r.Size is null) throw new TtrpcException(StatusCode.InvalidArgument, "size is required");
            _processes.Resize(r.ExecId, r.Size.Rows, r.Size.Cols);
            return ValueTask.FromResult(new ResizeTtyResponse());
        });
        server.Register<ReleaseRequest, ReleaseResponse>(ServiceName, "Release", ReleaseRequest.Parser, (r, c) =>
        {
            _processes.Release(r.ExecId);
            return ValueTask.FromResult(new ReleaseResponse());
        });
        server.Register<PrepareRequest, ExecResponse>(ServiceName, "Prepare", PrepareRequest.Parser, (r, c) => ValueTask.FromResult(Prepare(r)));
        server.Register<WaitRequest, WaitResponse>(ServiceName, "Wait", WaitRequest.Parser, (r, c) => WaitAsync(r, c.CancellationToken));
        server.Register<ReadFileRequest, ReadFileResponse>(ServiceName, "ReadFile", ReadFileRequest.Parser, (r, c) =>
            ValueTask.FromResult(AsWorkloadUser(() => Volatile.Read(ref _files).Read(r))));
        server.Register<WriteFileRequest, WriteFileResponse>(ServiceName, "WriteFile", WriteFileRequest.Parser, (r, c) =>
        {
            AsWorkloadUser(() =>
            {
                Volatile.Read(ref _files).Write(r);
                return true;
            });
            return ValueTask.FromResult(new WriteFileResponse());
        });
        server.Register<MakeDirRequest, MakeDirResponse>(ServiceName, "MakeDir", MakeDirRequest.Parser, (r, c) =>
        {
            AsWorkloadUser(() =>
            {
                Volatile.Read(ref _files).MakeDir(r);
                return true;
            });
            return ValueTask.FromResult(new MakeDirResponse());
        });
        server.Register<ListDirRequest, ListDirResponse>(ServiceName, "ListDir", ListDirRequest.Parser, (r, c) =>
            ValueTask.FromResult(AsWorkloadUser(() => Volatile.Read(ref _files).List(r))));
        server.Register<SetupGuestRequest, SetupGuestResponse>(ServiceName, "SetupGuest", SetupGuestRequest.Parser, (r, c) => ValueTask.FromResult(SetupGuest(r)));
        server.Register<AddContainerRequest, AddContainerResponse>(ServiceName, "AddContainer", AddContainerRequest.Parser, (r, c) =>
            ValueTask.FromResult(Containers.Add(r)));
        server.Register<RemoveContainerRequest, RemoveContainerResponse>(ServiceName, "RemoveContainer", RemoveContainerRequest.Parser, (r, c) =>
        {
            Containers.Remove(r.ContainerId);
            return ValueTask.FromResult(new RemoveContainerResponse());
        });
        server.Register<ControlContainerRequest, ControlContainerResponse>(ServiceName, "ControlContainer", ControlContainerRequest.Parser, (r, c) =>
            ValueTask.FromResult(r.ContainerId.Length > 0 ? Containers.Get(r.ContainerId).Control(r) : GuestWorkload.Control(r)));
        server.Register<StatsRequest, StatsResponse>(ServiceName, "Stats", StatsRequest.Parser, (r, c) =>
            ValueTask.FromResult(r.ContainerId.Length > 0 ? Containers.Get(r.ContainerId).Stats() : Stats()));
        server.Register<ShutdownRequest, ShutdownResponse>(ServiceName, "Shutdown", ShutdownRequest.Parser, (r, c) =>
        {
            int killed = _processes.KillAll();
            AgentLog.Info($"shutdown requested; killed {killed} process group(s)");
            c.OnResponseSent(() => _shutdown.TrySetResult());
            return ValueTask.FromResult(new ShutdownResponse());
        });
    }

    private GuestContainers Containers => _containers
        ?? throw new TtrpcException(StatusCode.FailedPrecondition, "a pod's second containers are only served by the agent of a microVM guest");

    private GuestCgroupControl GuestWorkload => _guest?.Workload
        ?? throw new TtrpcException(StatusCode.FailedPrecondition, "the guest's own workload is only controlled by the agent of a microVM guest");

    private T AsWorkloadUser<T>(Func<T> operation) => _confinement is null ? operation() : _confinement.AsWorkloadUser(operation);
    private T AsUser<T>(WorkloadUser user, Func<T> operation) => _confinement is null ? operation() : _confinement.AsUser(user, operation);

    private SetupGuestResponse SetupGuest(SetupGuestRequest request)
    {
        if (_guest is null) throw new TtrpcException(StatusCode.FailedPrecondition, "SetupGuest is only served by the agent of a microVM guest");
        BootTimeline.Mark("setup-start");
        _guest.Apply(request);
        SurviveHostDisconnect = request.SurviveHostDisconnect;
        // The root changed (chroot): file access now resolves against the sandbox root.
        var old = Interlocked.Exchange(ref _files, new FileService("/"));
        old.Dispose();
        BootTimeline.Mark("setup-done");
        return new SetupGuestResponse();
    }

    public static unsafe PingResponse Ping()
    {
        byte* uts = stackalloc byte[Libc.UtsFieldLength * 6];
        string kernel = "";
        if (Libc.uname(uts) == 0)
        {
            var release = new ReadOnlySpan<byte>(uts + 2 * Libc.UtsFieldLength, Libc.UtsFieldLength); // release: the third field
            int nul = release.IndexOf((byte)0);
            kernel = Encoding.UTF8.GetString(nul >= 0 ? release[..nul] : release);
        }
        BootTimeline.Mark("ping");
        var response = new PingResponse { Version = Version, Pid = Libc.getpid(), Kernel = kernel };
        response.BootStages.AddRange(BootTimeline.Snapshot());
        return response;
    }

    /// <summary>Starts the process; with <see cref="ExecRequest.WaitMs"/> the answer waits for its end and carries its
    /// exit status and output (<see cref="ExecEnd"/>): a short exec is one call.</summary>
    public ValueTask<ExecResponse> ExecAsync(ExecRequest request, CancellationToken cancellationToken)
    {
        if (request.WaitMs > ExecEnd.MaxWaitMs)
            throw new TtrpcException(StatusCode.InvalidArgument, $"wait_ms must be at most {ExecEnd.MaxWaitMs}");
        if (request.WaitMs > 0 && (request.Stdin || request.Tty is not null || request.Hold))
            throw new TtrpcException(StatusCode.InvalidArgument, "wait_ms is not served with stdin, a terminal or hold");
        var exec = Start(request);
        return request.WaitMs == 0
            ? ValueTask.FromResult(new ExecResponse { Pid = exec.Pid })
            : ExecEnd.AwaitAsync(exec, request.WaitMs, request.MaxOutputBytes, cancellationToken);
    }

    private ExecState Start(ExecRequest request)
    {
        BootTimeline.Mark("exec-request");
        if (!ExecIdPattern().IsMatch(request.ExecId))
            throw new TtrpcException(StatusCode.InvalidArgument, "exec_id must match [A-Za-z0-9_-]{1,64}");
        if (request.Argv.Count == 0 || request.Argv[0].Length == 0)
            throw new TtrpcException(StatusCode.InvalidArgument, "argv must name a program");
        if (request.Argv.Count > MaxArgs || request.Env.Count > MaxArgs)
            throw new TtrpcException(StatusCode.InvalidArgument, "too many arguments or environment variables");
        long total = 0;
        foreach (var a in request.Argv)
        {
            if (a.Contains('\0')) throw new TtrpcException(StatusCode.InvalidArgument, "argv contains NUL");
            total += a.Length;
        }
        foreach (var e in request.Env)
        {
            if (e.Name.Length == 0 || e.Name.Contains('=') || e.Name.Contains('\0') || e.Value.Contains('\0'))
                throw new TtrpcException(StatusCode.InvalidArgument, $"invalid environment variable name or value: '{e.Name}'");
            total += e.Name.Length + e.Value.Length + 1;
        }
        if (total > MaxArgBytes) throw new TtrpcException(StatusCode.InvalidArgument, "argv + env larger than 1 MiB");
        string cwd = request.Cwd.Length == 0 ? "/" : request.Cwd;
        if (cwd[0] != '/' || cwd.Contains('\0')) throw new TtrpcException(StatusCode.InvalidArgument, "cwd must be absolute");
        if (request.Tty is { } tty && (tty.Rows is 0 or > ushort.MaxValue || tty.Cols is 0 or > ushort.MaxValue))
            throw new TtrpcException(StatusCode.InvalidArgument, $"terminal size {tty.Rows}x{tty.Cols}: rows and cols must be 1..65535");
        if (request.Prepared && (request.Hold || request.Tty is not null || request.ContainerId.Length > 0))
            throw new TtrpcException(StatusCode.InvalidArgument, "a prepared exec is neither held, nor has a terminal, nor runs in a pod's container");
        if (request.ContainerId.Length > 0)
            return ExecInContainer(request, cwd);
        if (!IsDirectory(cwd)) throw new TtrpcException(StatusCode.FailedPrecondition, $"working directory {cwd}: not a directory or missing");

        var user = ExecUser.Resolve(request.User, _confinement);
        string executable = ResolveExecutable(request.Argv[0], request.Env);
        // A held exec's program is exec'd by its first stage, after this call returned: a missing or non-executable one
        // is refused here, as posix_spawn would have (looked up with the exec user's file-system identity).
        var held = request.Hold || request.Prepared;
        if (held && !AsUser(user, () => IsRegularFile(executable)))
            throw new TtrpcException(StatusCode.NotFound, $"exec {request.Argv[0]}: no such file");
        // No execute bit at all: nobody may run it (the finer check, by owner and group, is the exec's own: 126).
        if (held && (AsUser(user, () => StatMode(executable)) & 0b001_001_001) == 0)
            throw new TtrpcException(StatusCode.PermissionDenied, $"exec {request.Argv[0]}: permission denied");
        BootTimeline.Mark("exec-resolved");
        var exec = request.Prepared ? _processes.RunPrepared(request, executable, user) : _processes.Spawn(request, executable, user);
        BootTimeline.Mark("exec-spawned");
        // Not in a microVM guest: its log is the serial console, which QEMU emulates a byte at a time (under TCG ~1 ms
        // of the guest's one vCPU per line, on the reply's path; docs/microvm-bench.md, eighth round).
        if (_guest is null) AgentLog.Info($"exec {exec.Id} pid {exec.Pid}");
        return exec;
    }

    /// <summary>Starts an exec's first stage ahead of its request (<see cref="ProcessTable.Prepare"/>).</summary>
    private ExecResponse Prepare(PrepareRequest request)
    {
        if (!ExecIdPattern().IsMatch(request.ExecId))
            throw new TtrpcException(StatusCode.InvalidArgument, "exec_id must match [A-Za-z0-9_-]{1,64}");
        var held = _confinement as ContainerConfinement
            ?? throw new TtrpcException(StatusCode.FailedPrecondition, "prepared execs need a container agent with a workload user of its own (--workload-user)");
        var pid = _processes.Prepare(request.ExecId, held);
        AgentLog.Info($"exec {request.ExecId} prepared: pid {pid}");
        return new ExecResponse { Pid = pid };
    }

    /// <summary>An exec in a pod's second container: its working directory, program and user are looked up in its root,
    /// and the process is born in its namespaces and cgroup (<see cref="GuestContainer"/>).</summary>
    private ExecState ExecInContainer(ExecRequest request, string cwd)
    {
        if (request.Hold) throw new TtrpcException(StatusCode.InvalidArgument, "hold is not served in a pod's container");
        var container = Containers.Get(request.ContainerId);
        var (user, executable) = container.InRoot(() =>
        {
            if (!IsDirectory(cwd)) throw new TtrpcException(StatusCode.FailedPrecondition, $"working directory {cwd}: not a directory or missing");
            return (ExecUser.Resolve(request.User, container), ResolveExecutable(request.Argv[0], request.Env));
        });
        var exec = _processes.Spawn(request, executable, user, container);
        return exec;
    }

    /// <summary>argv[0] with a '/' is used as is; otherwise it is looked up in PATH from the request's env.</summary>
    internal static string ResolveExecutable(string name, IEnumerable<EnvVar> env)
    {
        if (name.Contains('/')) return name;
        string path = ProcessTable.DefaultPath;
        foreach (var e in env)
        {
            if (e.Name == "PATH") path = e.Value;
        }
        bool sawNotExecutable = false;
        foreach (var dir in path.Split(':'))
        {
            string candidate = (dir.Length == 0 ? "." : dir.TrimEnd('/')) + "/" + name;
            if (!IsRegularFile(candidate)) continue;
            if (IsExecutable(candidate)) return candidate;
            sawNotExecutable = true;
        }
        if (sawNotExecutable) throw new TtrpcException(StatusCode.PermissionDenied, $"exec {name}: permission denied");
        throw new TtrpcException(StatusCode.NotFound, $"exec {name}: executable file not found in PATH");
    }

    private static unsafe int StatMode(string path)
    {
        byte* buf = stackalloc byte[Libc.StatxSize];
        int rc = NativeStrings.With(path, p => Libc.statx(Libc.AT_FDCWD, (byte*)p, 0, Libc.STATX_TYPE | Libc.STATX_MODE, buf));
        return rc == 0 ? *(ushort*)(buf + Libc.StatxModeOffset) : -1;
    }

    private static bool IsRegularFile(string path)
    {
        int mode = StatMode(path);
        return mode >= 0 && (mode & Libc.S_IFMT) == Libc.S_IFREG;
    }

    private static bool IsDirectory(string path)
    {
        int mode = StatMode(path);
        return mode >= 0 && (mode & Libc.S_IFMT) == Libc.S_IFDIR;
    }

    private static unsafe bool IsExecutable(string path) => NativeStrings.With(path, p => Libc.access((byte*)p, Libc.X_OK)) == 0;

    public async ValueTask<ReadOutputResponse> ReadOutputAsync(ReadOutputRequest request, CancellationToken cancellationToken)
    {
        var exec = _processes.Get(request.ExecId);
        var pipe = request.Stream switch
        {
            OutputStream.Stdout => exec.Stdout,
            OutputStream.Stderr => exec.Stderr,
            _ => throw new TtrpcException(StatusCode.InvalidArgument, "stream must be STDOUT or STDERR"),
        };
        int max = request.MaxBytes == 0 || request.MaxBytes > MaxChunk ? MaxChunk : (int)request.MaxBytes;
        var (data, eof) = await pipe.ReadAsync(max, cancellationToken).ConfigureAwait(false);
        return new ReadOutputResponse { Data = UnsafeByteOperations.UnsafeWrap(data), Eof = eof };
    }

    public async ValueTask<WriteStdinResponse> WriteStdinAsync(WriteStdinRequest request, CancellationToken cancellationToken)
    {
        if (request.Data.Length > MaxChunk) throw new TtrpcException(StatusCode.InvalidArgument, "data larger than 1 MiB");
        var exec = _processes.Get(request.ExecId);
        if (exec.Stdin is null) throw new TtrpcException(StatusCode.FailedPrecondition, $"exec {request.ExecId} was started without stdin");
        await exec.Stdin.WriteAsync(request.Data.ToByteArray(), request.Close, cancellationToken).ConfigureAwait(false);
        return new WriteStdinResponse();
    }

    public SignalResponse Signal(SignalRequest request)
    {
        if (request.Signal is < 1 or > 64) throw new TtrpcException(StatusCode.InvalidArgument, "signal must be 1..64");
        _processes.Signal(request.ExecId, request.Signal);
        return new SignalResponse();
    }

    /// <summary>
    /// Returns once the process has exited and was reaped. It does not wait for the output pipes to reach EOF: a
    /// daemonized grandchild may hold them open forever. The host drains output with ReadOutput until eof.
    /// </summary>
    public async ValueTask<WaitResponse> WaitAsync(WaitRequest request, CancellationToken cancellationToken)
    {
        var exec = _processes.Get(request.ExecId);
        var result = await exec.Exited.WaitAsync(cancellationToken).ConfigureAwait(false);
        return result.Clone();
    }

    public StatsResponse Stats() => new() { Processes = _processes.LiveCount, MemoryRssKib = ReadRssKib() };

    private static long ReadRssKib()
    {
        try
        {
            // /proc/self/statm: size resident shared ... (pages). Absent before /proc is mounted: report 0.
            var fields = File.ReadAllText("/proc/self/statm").Split(' ');
            return long.Parse(fields[1]) * Environment.SystemPageSize / 1024;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return 0;
        }
    }

    public int KillAll() => _processes.KillAll();

    public void Dispose()
    {
        _containers?.Dispose();
        _processes.KillAll();
        _processes.Dispose();
        _io.Dispose();
        _files.Dispose();
    }
}
