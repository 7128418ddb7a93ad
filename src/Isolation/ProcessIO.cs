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

    /// <summary>Signals for the process of a one-shot run (<see cref="ISandboxDriver.RunAsync"/>), delivered to it
    /// while it runs; null = none. A long-lived sandbox's processes are signalled through their handle instead.</summary>
    public ProcessSignals? Signals { get; init; }
}
