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
}
