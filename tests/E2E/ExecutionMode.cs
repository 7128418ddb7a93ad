namespace Sandbox.E2E;

/// <summary>The ways to run a process (two paths of the container tier, and the microVM tier); the behaviour suite
/// runs every case through each and expects the same.</summary>
public enum ExecutionMode
{
    /// <summary>driver.RunAsync: the fast path, no agent.</summary>
    OneShot,
    /// <summary>driver.CreateAsync + sandbox.ExecAsync through the agent + DisposeAsync.</summary>
    Agent,
    /// <summary>The microVM tier: a QEMU guest with its own kernel, the agent as its PID 1, same calls as Agent.</summary>
    MicroVm,
}
