using System.Runtime.InteropServices;
using Sandbox.Agent.Interop;

namespace Sandbox.Agent;

/// <summary>
/// <c>sandbox-agent --exec-held UID GID TTY CWD NPROC -- PATH ARGV...</c>: the agent's own binary as the first stage of an exec
/// started with <c>hold</c> (container tier). The agent starts it with its own identity, so the workload (another uid)
/// cannot touch it; it waits on descriptor 3 until the agent writes the go (after the host has moved this process
/// into the exec's own cgroup), then, on its main thread, takes the terminal as its controlling one (TTY = 1), becomes
/// the workload user for good (<see cref="ContainerConfinement.BecomeForGood"/>), sets its RLIMIT_NPROC (NPROC > 0),
/// enters the working directory with that identity and execs the program. Nothing of the
/// program runs before the move. EOF on descriptor 3 (never released) ends it without running anything.
/// </summary>
internal static unsafe class HeldExec
{
    public const string Flag = "--exec-held";
    public const string PreparedFlag = "--exec-prepared";
    public const int HoldFd = 3;

    /// <summary>Exit codes of a held exec that never reached the program (shell conventions).</summary>
    public const int NotReleased = 125, CannotRun = 126, NotFound = 127;

    /// <summary>Runs synchronously on the process's main thread (execve takes the calling thread's credentials).</summary>
    public static int Run(string[] args)
    {
        if (args.Length < 9 || args[6] != "--" || !uint.TryParse(args[1], out var uid) || !uint.TryParse(args[2], out var gid)
            || args[3] is not ("0" or "1") || !ulong.TryParse(args[5], out var nproc))
            return Fail(CannotRun, "usage: sandbox-agent --exec-held UID GID TTY(0|1) CWD NPROC -- PATH ARGV...");
        byte go;
        nint n;
        do n = Libc.read(HoldFd, &go, 1);
        while (n < 0 && Marshal.GetLastPInvokeError() == Errno.EINTR);
        if (n != 1) return NotReleased;
        Libc.close(HoldFd);
        if (args[3] == "1" && Libc.ioctl(0, Libc.TIOCSCTTY, null) != 0)
            return Fail(CannotRun, $"TIOCSCTTY: {Errno.Name(Marshal.GetLastPInvokeError())}");
        return Proceed(uid, gid, nproc, args[4], args[7], args[8..], envp: null);
    }

    /// <summary>
    /// <c>sandbox-agent --exec-prepared</c>: a first stage started before its exec was asked for (the agent's Prepare),
    /// with the agent's identity, stdout and stderr the exec's pipes, stdin its stdin pipe, and the program to come on
    /// descriptor 3. The host moves it into the exec's cgroup before it sends the Exec that names it; the agent then
    /// writes the exec (<see cref="PreparedExec.Encode"/>) and closes the pipe, and this process proceeds as a held one
    /// does after its go. EOF with nothing written (the sandbox going away) ends it without running anything.
    /// </summary>
    public static int RunPrepared()
    {
        var payload = new List<byte>(4096);
        var buffer = stackalloc byte[4096];
        while (true)
        {
            nint n = Libc.read(HoldFd, buffer, 4096);
            if (n < 0 && Marshal.GetLastPInvokeError() == Errno.EINTR) continue;
            if (n < 0) return NotReleased;
            if (n == 0) break;
            for (int i = 0; i < n; i++) payload.Add(buffer[i]);
            if (payload.Count > PreparedExec.MaxPayload) return Fail(CannotRun, "prepared exec: request too large");
        }
        Libc.close(HoldFd);
        if (payload.Count == 0) return NotReleased;
        if (PreparedExec.Decode(payload.ToArray()) is not { } exec)
            return Fail(CannotRun, "prepared exec: malformed request");
        if (!exec.Stdin)
        {
            // No stdin asked for: /dev/null, as a spawned exec gets (the stdin pipe's write end is closed by the agent).
            using var strings = new NativeStrings();
            int devNull = Libc.open(strings.Add("/dev/null"), Libc.O_RDONLY, 0);
            if (devNull < 0 || Libc.dup2(devNull, 0) < 0)
                return Fail(CannotRun, $"/dev/null as stdin: {Errno.Name(Marshal.GetLastPInvokeError())}");
            Libc.close(devNull);
        }
        return Proceed(exec.Uid, exec.Gid, exec.Nproc, exec.Cwd, exec.Path, exec.Argv, exec.Envp);
    }

    /// <summary>The end of every held exec: become the workload user for good, its RLIMIT_NPROC, its working
    /// directory, its program. <paramref name="envp"/> null: this process's own environment.</summary>
    private static int Proceed(uint uid, uint gid, ulong nproc, string cwd, string path, string[] argv, string[]? envp)
    {
        try
        {
            ContainerConfinement.BecomeForGood(uid, gid);
        }
        catch (Exception e)
        {
            return Fail(CannotRun, e.Message);
        }
        if (nproc > 0)
        {
            var limit = new Libc.RLimit { Current = nproc, Max = nproc };
            if (Libc.prlimit(0, Libc.RLIMIT_NPROC, &limit, null) != 0)
                return Fail(CannotRun, $"RLIMIT_NPROC: {Errno.Name(Marshal.GetLastPInvokeError())}");
        }
        using var strings = new NativeStrings();
        if (Libc.chdir(strings.Add(cwd)) != 0)
            return Fail(CannotRun, $"chdir {cwd}: {Errno.Name(Marshal.GetLastPInvokeError())}");
        if (envp is null)
            Libc.execv(strings.Add(path), strings.AddArray(argv));
        else
            Libc.execve(strings.Add(path), strings.AddArray(argv), strings.AddArray(envp));
        int errno = Marshal.GetLastPInvokeError();
        return Fail(errno is Errno.ENOENT or Errno.ENOTDIR ? NotFound : CannotRun, $"exec {path}: {Errno.Name(errno)}");
    }

    private static int Fail(int code, string message)
    {
        AgentLog.WriteFd(2, $"sandbox-agent: {message}\n");
        return code;
    }
}
