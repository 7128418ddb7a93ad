namespace Sandbox.Isolation;

/// <summary>One process to run inside a sandbox.</summary>
public sealed record ProcessSpec
{
    /// <summary>argv; argv[0] without a '/' is looked up in PATH inside the sandbox.</summary>
    public required IReadOnlyList<string> Argv { get; init; }

    /// <summary>Added to (and overriding) the sandbox's environment.</summary>
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();

    /// <summary>Absolute working directory inside the sandbox; null = the sandbox's work dir.</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>Wall-clock limit for this process; null = the sandbox's <see cref="ResourceLimits.WallTime"/>.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Run on a new pseudo-terminal of this size (its controlling terminal, as stdin, stdout and stderr):
    /// output arrives on <see cref="ProcessIO.Stdout"/> (stderr stays empty), and
    /// <see cref="ISandboxProcess.ResizeAsync"/> changes the size. Null = pipes. Long-lived sandboxes only.</summary>
    public TerminalSize? Tty { get; init; }

    /// <summary>The user inside the sandbox, NAME|UID[:GROUP|GID] (the agent resolves and checks it against the
    /// sandbox's ids); null = the sandbox's workload user. Long-lived sandboxes only.</summary>
    public string? User { get; init; }
}

/// <summary>A terminal's window size in character cells (each 1..65535).</summary>
public sealed record TerminalSize(int Rows, int Cols)
{
    public static readonly TerminalSize Default = new(24, 80);

    /// <summary>What is wrong with the size, or null when it is valid.</summary>
    internal string? Problem() => Rows is < 1 or > ushort.MaxValue || Cols is < 1 or > ushort.MaxValue
        ? $"terminal size {Rows}x{Cols}: rows and cols must be 1..65535"
        : null;
}
