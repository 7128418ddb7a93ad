namespace Sandbox.Cli;

/// <summary>Exit codes of `sandbox run` that are not the sandboxed process's own. Chosen below 128 so they never
/// collide with 128+signal, and after docker's and timeout(1)'s meanings where those exist.</summary>
public static class ExitCodes
{
    /// <summary>The OOM killer ended the process (the sandbox's memory limit).</summary>
    public const int OutOfMemory = 123;

    /// <summary>The process ran past its wall-clock limit (as timeout(1)).</summary>
    public const int Timeout = 124;

    /// <summary>The sandbox could not be created: bad arguments, limits, rootfs, or an engine failure (as docker).</summary>
    public const int SandboxError = 125;

    /// <summary>The program was not found inside the sandbox (as a shell).</summary>
    public const int NotFound = 127;
}
