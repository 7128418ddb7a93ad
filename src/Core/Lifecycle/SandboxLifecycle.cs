using System.Collections.Frozen;

namespace Sandbox.Core;

/// <summary>The lifecycle state machine: the one table of allowed transitions, and what each state permits. A refused
/// verb is a <see cref="SandboxStateException"/> (FailedPrecondition) naming the sandbox, its state and the verb.</summary>
public static class SandboxLifecycle
{
    private static readonly FrozenDictionary<SandboxState, FrozenSet<SandboxState>> s_allowed = new Dictionary<SandboxState, FrozenSet<SandboxState>>
    {
        // A failed launch is rolled back at once: nothing is left to stop.
        [SandboxState.Creating] = Set(SandboxState.Running, SandboxState.Deleted),
        [SandboxState.Running] = Set(SandboxState.Paused, SandboxState.Stopping, SandboxState.Exited, SandboxState.Broken),
        [SandboxState.Paused] = Set(SandboxState.Running, SandboxState.Stopping, SandboxState.Exited, SandboxState.Broken),
        [SandboxState.Exited] = Set(SandboxState.Stopping),
        [SandboxState.Broken] = Set(SandboxState.Stopping, SandboxState.Exited),
        [SandboxState.Stopping] = Set(SandboxState.Deleted),
        [SandboxState.Deleted] = Set(),
    }.ToFrozenDictionary();

    public static bool CanTransition(SandboxState from, SandboxState to) => s_allowed[from].Contains(to);

    /// <summary>The states reachable from <paramref name="from"/> in one step.</summary>
    public static IReadOnlySet<SandboxState> Next(SandboxState from) => s_allowed[from];

    /// <summary>Start processes, read and write files, list directories.</summary>
    public static bool CanExec(SandboxState state) => state == SandboxState.Running;

    public static bool CanPause(SandboxState state) => state == SandboxState.Running;

    public static bool CanResume(SandboxState state) => state == SandboxState.Paused;

    /// <summary>Change its limits.</summary>
    public static bool CanUpdate(SandboxState state) => state is SandboxState.Running or SandboxState.Paused;

    /// <summary>Tear it down. A sandbox still being created is not deleted under its launch; one already stopping or
    /// deleted is going away anyway.</summary>
    public static bool CanDelete(SandboxState state) => CanTransition(state, SandboxState.Stopping);

    /// <summary>Counts against its tenant and is removed when its TTL passes.</summary>
    public static bool IsLive(SandboxState state) => state is not (SandboxState.Stopping or SandboxState.Deleted);

    private static FrozenSet<SandboxState> Set(params SandboxState[] states) => states.ToFrozenSet();
}
