namespace Sandbox.SandboxApi.StreamLimits;

/// <summary>The streaming calls whose buffers count against a tenant's limits.</summary>
public enum StreamKind
{
    /// <summary>Exec or Run: output queued for the client, stdin queued for the process.</summary>
    Process,
    /// <summary>WriteFile or ReadFile: chunks on their way between the client and the agent.</summary>
    File,
    /// <summary>WatchEvents: lifecycle events queued for the client.</summary>
    Events,
}
