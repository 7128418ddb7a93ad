using Sandbox.Isolation.Agent;

namespace Sandbox.Cli;

/// <summary>Where the CLI's drivers find the agent: $SANDBOX_AGENT_DIR when set, else the engine's own search path
/// (next to the program, then the installed locations). The engine itself reads no environment.</summary>
internal static class AgentDirectory
{
    public static string? FromEnvironment() =>
        Environment.GetEnvironmentVariable(AgentBundle.EnvironmentVariable) is { Length: > 0 } dir ? dir : null;
}
