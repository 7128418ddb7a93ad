namespace Sandbox.E2E;

/// <summary>The two ways to run a process; the behaviour suite runs every case through both and expects the same.</summary>
public enum ExecutionMode
{
    /// <summary>driver.RunAsync: the fast path, no agent.</summary>
    OneShot,
    /// <summary>driver.CreateAsync + sandbox.ExecAsync through the agent + DisposeAsync.</summary>
    Agent,
}
