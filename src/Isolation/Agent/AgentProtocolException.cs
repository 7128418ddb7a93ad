namespace Sandbox.Isolation.Agent;

/// <summary>The sandbox agent answered something it must not (sizes, ids, values out of range, malformed messages).
/// The agent runs inside the isolation boundary: treat the connection as compromised.</summary>
public sealed class AgentProtocolException : Exception
{
    public AgentProtocolException(string message) : base(message) { }
    public AgentProtocolException(string message, Exception? innerException) : base(message, innerException) { }
}
