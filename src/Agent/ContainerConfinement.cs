using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using Sandbox.Agent.Interop;
using Sandbox.Ttrpc;

namespace Sandbox.Agent;

/// <summary>
/// Container tier: the agent has a uid of its own inside the sandbox's user namespace (the range's last id; the host
/// maps every id inside to an unprivileged host uid of the sandbox's range) and keeps a few capabilities there, so the
/// workload — another uid, without any capability — can neither signal it, nor trace it, nor change its rlimits.
/// <para>Every child is started from a fresh thread that first becomes the workload user for good: groups, gid and uid
/// (all three ids), an empty bounding set, no ambient, inheritable, permitted or effective capability, and root's
/// exec-time capabilities switched off (SECBIT_NOROOT, locked). The kernel keeps credentials per thread, so the
/// agent's other threads keep theirs, and the thread ends after the spawn: no capability of the agent can reach a
/// child, whatever uid it runs as (a root-inside workload included) and whatever file capabilities an image's
/// programs carry.</para>
/// File operations run with the workload's file-system ids on the calling thread (setfsuid/setfsgid).
/// </summary>
internal sealed unsafe class ContainerConfinement : SpawnConfinement
{
    private readonly uint _uid;
    private readonly uint _gid;
    private readonly uint _agentUid;
    private readonly uint _agentGid;

    public ContainerConfinement(uint uid, uint gid)
    {
        _uid = uid;
        _gid = gid;
        _agentUid = Libc.getuid();
        _agentGid = Libc.getgid();
        if (_agentUid == uid)
            throw new InvalidOperationException($"the agent's uid {_agentUid} must differ from the workload's");
    }

    public uint Uid => _uid;
    public uint Gid => _gid;
    public override WorkloadUser DefaultUser => new(_uid, _gid);
    public override WorkloadUser? AgentUser => new(_agentUid, _agentGid);

    /// <summary>The command of a held exec's first stage (<see cref="HeldExec"/>), through the bundled loader this agent
    /// was started with (the bundle is <c>{dir}/lib/ld-linux…</c>, <c>{dir}/sandbox-agent</c> and
    /// <c>{dir}/sandbox-agent-exec</c>). <c>sandbox-agent-exec</c> is this same program linked for start-up (stored
    /// hydrated at a fixed address: ~165 page faults instead of ~400, about 0.8 ms less CPU per exec here, on the exec's
    /// critical path). It has no address-space randomisation of its own image, which costs nothing in this role: it
    /// reads nothing but its arguments and one byte from the agent before it execs the program, which replaces it.
    /// The agent that serves the host stays position-independent. A bundle without it runs the agent's binary.</summary>
    /// <param name="nproc">RLIMIT_NPROC the program gets (0: inherited), set by the first stage on itself as the
    /// workload user, so the agent's and the first stage's own threads never count against it.</param>
    public (string Path, string[] Argv) HeldCommand(string executable, IReadOnlyList<string> argv, string cwd, bool tty, int nproc, WorkloadUser user)
    {
        var (loader, first) = FirstStage();
        string[] command =
        [
            .. first, HeldExec.Flag, user.Uid.ToString(), user.Gid.ToString(), tty ? "1" : "0", cwd, nproc.ToString(), "--", executable, .. argv,
        ];
        return (loader, command);
    }

    /// <summary>The command of a prepared first stage: the program comes later. The bundle's <c>sandbox-exec</c>
    /// (<c>src/Agent/Native/sandbox-exec.c</c>: freestanding, no runtime or loader to start: ~7 ms less CPU per exec than
    /// this program's NativeAOT start, bench/sandboxd; scripts/build-agent.sh always builds it).</summary>
    public (string Path, string[] Argv) PreparedCommand()
    {
        var (loader, _) = FirstStage();
        var lean = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(System.IO.Path.GetDirectoryName(loader))!, LeanStage);
        return File.Exists(lean) ? (lean, [LeanStage])
            : throw new TtrpcException(StatusCode.FailedPrecondition, $"prepared execs need {lean} in the agent's bundle (scripts/build-agent.sh)");
    }

    /// <summary>The prepared first stage's file in the bundle, and its process name (as the agent's own names it).</summary>
    public const string LeanStage = "sandbox-exec";

    private static (string Loader, string[] Command) FirstStage()
    {
        var loader = Environment.ProcessPath;
        var bundle = loader is null ? null : System.IO.Path.GetDirectoryName(System.IO.Path.GetDirectoryName(loader));
        var self = bundle is null ? null : System.IO.Path.Combine(bundle, "sandbox-agent-exec");
        if (self is not null && !File.Exists(self))
            self = System.IO.Path.Combine(bundle!, "sandbox-agent");
        if (loader is null || self is null || !File.Exists(self))
            throw new TtrpcException(StatusCode.FailedPrecondition, $"held execs need the agent started from its bundle (loader {loader})");
        return (loader, [loader, "--library-path", System.IO.Path.Combine(bundle!, "lib"), self]);
    }

    public override T Spawn<T>(Func<GuestBirth?, T> spawn, WorkloadUser user)
    {
        T result = default!;
        ExceptionDispatchInfo? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                BecomeForGood(user.Uid, user.Gid);
                result = spawn(null);
            }
            catch (Exception e)
            {
                error = ExceptionDispatchInfo.Capture(e);
            }
        }, maxStackSize: 256 * 1024) { IsBackground = true, Name = "agent-spawn" };
        thread.Start();
        thread.Join();
        error?.Throw();
        return result;
    }

    /// <summary>This thread becomes <paramref name="uid"/>:<paramref name="gid"/> for good, without any capability
    /// (see the class summary). Also the last step of a held exec (<see cref="HeldExec"/>).</summary>
    public static void BecomeForGood(uint uid, uint gid) => WorkloadCredentials.BecomeUnprivileged(uid, gid);

    public override T AsUser<T>(WorkloadUser user, Func<T> operation) => WorkloadCredentials.WithFsIds(user, _agentUid, _agentGid, operation);

    /// <summary>The host reads OOM kills from the sandbox's cgroup itself; the agent does not report them.</summary>
    public override long OomKillCount() => 0;

    /// <summary>The workload has a uid of its own: RLIMIT_NPROC counts its tasks only.</summary>
    public override bool SharesUidWithWorkload => false;
}
