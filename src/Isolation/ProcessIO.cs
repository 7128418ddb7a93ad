namespace Sandbox.Isolation;

/// <summary>Where a process's standard streams come from and go to. Output streams are written as the data arrives
/// (live), and are not closed by the engine.</summary>
public sealed record ProcessIO
{
    public static ProcessIO Discard { get; } = new();

    /// <summary>Copied to the process's stdin until end of stream; null = /dev/null.</summary>
    public Stream? Stdin { get; init; }

    public Stream? Stdout { get; init; }

    public Stream? Stderr { get; init; }
}
