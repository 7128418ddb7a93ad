namespace Sandbox.Isolation;

/// <summary>
/// A sandbox that starts its next exec's first process ahead of the request (the container tier's prepared first
/// stage, placed in the exec's own cgroup before any program runs), after each exec ends. A caller that will run no
/// further exec in it (a one-shot run in a pooled sandbox) says so, and nothing is started for nobody.
/// </summary>
public interface IPreparesExecs
{
    /// <summary>Nothing more is prepared; one already prepared is still used by the next exec.</summary>
    void StopPreparing();
}
