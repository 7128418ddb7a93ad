using Sandbox.Isolation;

namespace Sandbox.Core;

/// <summary>A verb the sandbox's current state does not allow (exec on a paused sandbox, delete while it is being
/// created). Faces map it like any FailedPrecondition.</summary>
public sealed class SandboxStateException(SandboxId id, SandboxState state, string verb)
    : SandboxException(SandboxErrorCode.FailedPrecondition,
        $"sandbox {id} is {state.ToString().ToLowerInvariant()}: cannot {verb} it ({Allowed(state)})")
{
    public SandboxId Id { get; } = id;
    public SandboxState State { get; } = state;
    public string Verb { get; } = verb;

    private static string Allowed(SandboxState state) => state switch
    {
        SandboxState.Creating => "wait until it runs",
        SandboxState.Paused => "resume it first",
        SandboxState.Exited or SandboxState.Broken => "only delete is possible",
        SandboxState.Stopping or SandboxState.Deleted => "it is going away",
        _ => "not in this state",
    };
}
