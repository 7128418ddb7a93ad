namespace Sandbox.SandboxApi.Configuration;

/// <summary>The configuration cannot be used; <see cref="Errors"/> lists every problem, each naming its key.</summary>
public sealed class ConfigException : Exception
{
    public IReadOnlyList<string> Errors { get; }

    public ConfigException(string source, IReadOnlyList<string> errors)
        : base($"{source}: invalid configuration:\n  " + string.Join("\n  ", errors)) => Errors = errors;

    public ConfigException() : this("config", []) { }
    public ConfigException(string message) : base(message) => Errors = [message];
    public ConfigException(string message, Exception inner) : base(message, inner) => Errors = [message];
}
