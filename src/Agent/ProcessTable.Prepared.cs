using System.Runtime.InteropServices;
using Sandbox.Agent.Interop;
using Sandbox.AgentProtocol.V1;
using Sandbox.Ttrpc;

namespace Sandbox.Agent;

/// <summary>Execs prepared ahead of their request (the host's <c>PreparedExecs</c>): a first stage started with the
/// agent's identity and the exec's pipes, waiting for its program until an Exec names it.</summary>
internal sealed unsafe partial class ProcessTable
{
    /// <summary>First stages started ahead of their exec (Prepare), by exec id, until an Exec runs a program in one.</summary>
    private readonly Dictionary<string, Prepared> _prepared = new(StringComparer.Ordinal);
    private const int MaxPrepared = 4;

    /// <summary>A prepared first stage: its pid and the agent's ends of its stdin, stdout, stderr and request pipes.</summary>
    private sealed class Prepared(int pid, int stdin, int stdout, int stderr, int request)
    {
        public int Pid { get; } = pid;
        public int Stdin = stdin, Stdout = stdout, Stderr = stderr, Request = request;

        public void CloseAll()
        {
            CloseFd(ref Stdin);
            CloseFd(ref Stdout);
            CloseFd(ref Stderr);
            CloseFd(ref Request);
        }
    }
    /// <summary>Starts the first stage of exec <paramref name="execId"/> ahead of its request (the bundle's
    /// <c>sandbox-exec</c>, src/Agent/Native/sandbox-exec.c): the agent's identity, the exec's pipes, nothing of any
    /// program yet.</summary>
    public int Prepare(string execId, ContainerConfinement held)
    {
        int* outPipe = stackalloc int[2] { -1, -1 };
        int* errPipe = stackalloc int[2] { -1, -1 };
        int* inPipe = stackalloc int[2] { -1, -1 };
        int* requestPipe = stackalloc int[2] { -1, -1 };
        try
        {
            MakePipe(outPipe, parentEnd: 0);
            MakePipe(errPipe, parentEnd: 0);
            MakePipe(inPipe, parentEnd: 1);
            MakePipe(requestPipe, parentEnd: 1);
            var (path, command) = held.PreparedCommand();
            lock (_lock)
            {
                if (_byId.ContainsKey(execId) || _prepared.ContainsKey(execId))
                    throw new TtrpcException(StatusCode.AlreadyExists, $"exec {execId}: already exists");
                if (_prepared.Count >= MaxPrepared)
                    throw new TtrpcException(StatusCode.ResourceExhausted, $"too many prepared execs ({MaxPrepared})");
                int pid;
                int rc = SpawnNative(path, command, [], "/", inPipe[0], outPipe[1], errPipe[1], null, &pid, holdFd: requestPipe[0]);
                if (rc != 0)
                    throw new TtrpcException(StatusCode.ResourceExhausted, $"prepare exec {execId}: {Errno.Name(rc)}");
                _prepared[execId] = new Prepared(pid, inPipe[1], outPipe[0], errPipe[0], requestPipe[1]);
                inPipe[1] = outPipe[0] = errPipe[0] = requestPipe[1] = -1; // owned by the prepared exec now
                _childSpawned.Set();
                return pid;
            }
        }
        finally
        {
            for (int i = 0; i < 2; i++)
            {
                CloseFd(ref outPipe[i]);
                CloseFd(ref errPipe[i]);
                CloseFd(ref inPipe[i]);
                CloseFd(ref requestPipe[i]);
            }
        }
    }

    /// <summary>Runs <paramref name="request"/>'s program in the first stage prepared under its exec id (the host has
    /// placed it): the exec is written to it, and from here on it is an exec like a spawned one.</summary>
    public ExecState RunPrepared(ExecRequest request, string executable, WorkloadUser user)
    {
        var exec = new PreparedExec(request.Stdin, user.Uid, user.Gid, (ulong)Math.Max(NprocLimit, 0), request.Cwd.Length == 0 ? "/" : request.Cwd,
            executable, request.Argv.ToArray(), request.Env.Select(e => e.Name + "=" + e.Value).ToArray());
        var payload = exec.Encode();
        if (payload.Length > PreparedExec.MaxPayload)
            throw new TtrpcException(StatusCode.InvalidArgument, $"argv + env of a prepared exec larger than {PreparedExec.MaxPayload / 1024} KiB");
        lock (_lock)
        {
            EnsureRoomFor(request.ExecId);
            if (!_prepared.Remove(request.ExecId, out var prepared))
                throw new TtrpcException(StatusCode.NotFound, $"exec {request.ExecId}: not prepared, or its first stage is gone");
            try
            {
                fixed (byte* p = payload)
                {
                    // An empty pipe takes it whole (MaxPayload is below its capacity).
                    nint written;
                    do written = Libc.write(prepared.Request, p, (nuint)payload.Length);
                    while (written < 0 && Marshal.GetLastPInvokeError() == Errno.EINTR);
                    if (written != payload.Length)
                        throw new TtrpcException(StatusCode.FailedPrecondition,
                            $"exec {request.ExecId}: its prepared first stage did not take the request ({(written < 0 ? Errno.Name(Marshal.GetLastPInvokeError()) : "short write")})");
                }
                CloseFd(ref prepared.Request);
                if (!request.Stdin) CloseFd(ref prepared.Stdin);
                var stdout = new OutputPipe(prepared.Stdout, _io);
                var stderr = new OutputPipe(prepared.Stderr, _io);
                var stdin = request.Stdin ? new StdinPipe(prepared.Stdin, _io) : null;
                prepared.Stdout = prepared.Stderr = prepared.Stdin = -1; // owned by the pipes now
                return Track(new ExecState(request.ExecId, prepared.Pid, stdout, stderr, stdin) { Confinement = _confinement });
            }
            finally
            {
                prepared.CloseAll();
            }
        }
    }
}
