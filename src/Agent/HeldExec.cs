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
