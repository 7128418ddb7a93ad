namespace Sandbox.Isolation;

/// <summary>How a sandboxed process ended. <see cref="Signal"/> is set when it was killed by a signal;
/// <see cref="ExitCode"/> then is 128+signal, as shells report it.</summary>
public sealed record ExitStatus
{
    public required int ExitCode { get; init; }

    /// <summary>Terminating signal number, 0 when the process exited normally.</summary>
    public int Signal { get; init; }

    /// <summary>The kernel's OOM killer ended it (the sandbox's memory limit was reached).</summary>
    public bool OomKilled { get; init; }

    /// <summary>It ran past its wall-clock limit and was killed.</summary>
    public bool TimedOut { get; init; }

    /// <summary>stdout or stderr went past the output cap; the excess was dropped.</summary>
    public bool OutputTruncated { get; init; }

    public TimeSpan Duration { get; init; }

    public ResourceUsage Usage { get; init; } = ResourceUsage.Empty;
}

/// <summary>CPU time (user + system) and peak memory of a process, or of the whole sandbox on the one-shot path.</summary>
public sealed record ResourceUsage(TimeSpan CpuTime, long PeakMemoryBytes)
{
    public static ResourceUsage Empty { get; } = new(TimeSpan.Zero, 0);
}
