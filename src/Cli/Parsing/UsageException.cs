namespace Sandbox.Cli.Parsing;

/// <summary>The command line is wrong (exit <see cref="ExitCodes.Usage"/>); the message names the bad token and what
/// is accepted.</summary>
internal sealed class UsageException(string message) : Exception(message);
