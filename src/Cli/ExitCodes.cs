namespace Sandbox.Cli;

/// <summary>Exit codes of the CLI itself, documented in README ("Exit codes"). `run` and `exec` otherwise exit with
/// the workload's own status (128 + N when a signal N ended it, as a shell reports). Where a convention exists it is
/// followed: a shell's 126/127, timeout(1)'s 124, docker's 125, sysexits(3) for usage/unreachable/permission, and a
/// shell's 128 + signal for an interrupted CLI.</summary>
public static class ExitCodes
{
    /// <summary>Bad usage: unknown flag, malformed value (sysexits EX_USAGE).</summary>
    public const int Usage = 64;

    /// <summary>No such sandbox (sysexits EX_NOINPUT: the thing named does not exist).</summary>
    public const int SandboxNotFound = 66;

    /// <summary>sandboxd is not reachable: no socket, refused, not running (sysexits EX_UNAVAILABLE).</summary>
    public const int DaemonUnreachable = 69;

    /// <summary>The policy denied the request, or the caller is not a known tenant (sysexits EX_NOPERM).</summary>
    public const int PolicyDenied = 77;

    /// <summary>The OOM killer ended the process (the sandbox's memory limit).</summary>
    public const int OutOfMemory = 123;

    /// <summary>The process ran past its wall-clock limit (as timeout(1)).</summary>
    public const int Timeout = 124;

    /// <summary>The sandbox could not be created or the call failed in the engine (as docker).</summary>
    public const int SandboxError = 125;

    /// <summary>The program exists but cannot be executed (as a shell).</summary>
    public const int NotExecutable = 126;

    /// <summary>The program was not found inside the sandbox (as a shell).</summary>
    public const int NotFound = 127;

    /// <summary>The CLI was interrupted (Ctrl-C) and the workload did not report its own status (128 + SIGINT).</summary>
    public const int Interrupted = 130;

    /// <summary>The reader of stdout went away (EPIPE): the run was ended, as a shell reports SIGPIPE (128 + 13).</summary>
    public const int BrokenPipe = 141;
}
