namespace Sandbox.Isolation;

/// <summary>Shared rules for turning what was observed into an <see cref="ExitStatus"/>, so both execution paths
/// (one-shot through bwrap, exec through the agent) report alike.</summary>
internal static class ExitStatusMapper
{
    public const int SIGKILL = 9;

    /// <summary>From bwrap's reported code: bwrap folds "killed by signal N" into 128+N, so codes 129-192 are read
    /// as signals (a program that itself exits with such a code is reported as signalled; the number is the same).</summary>
    public static (int Code, int Signal) FromBwrapCode(int code) =>
        code is > 128 and <= 128 + 64 ? (code, code - 128) : (code, 0);

    public static (int Code, int Signal) FromWait(int exitCode, int signal) =>
        signal != 0 ? (128 + signal, signal) : (exitCode, 0);

    public static ExitStatus Build(int code, int signal, bool timedOut, bool oomKilledSomething, bool truncated,
        TimeSpan duration, ResourceUsage usage) => new()
    {
        ExitCode = code,
        Signal = signal,
        TimedOut = timedOut,
        // An OOM kill is the cause only when the process died of SIGKILL that we did not send.
        OomKilled = !timedOut && signal == SIGKILL && oomKilledSomething,
        OutputTruncated = truncated,
        Duration = duration,
        Usage = usage,
    };
}
