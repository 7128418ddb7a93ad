using Sandbox.Policy;

namespace Sandbox.KataShim.Daemon;

/// <summary>The embedded policy for a daemon that decides once per container (at Create) and then idles for the
/// container's whole life: compiled ahead of the first decision (<see cref="Prewarm"/>, right after the daemon says it
/// is ready, while containerd prepares the Create), then held only weakly, so the collection after the burst gives
/// the compiled policy back. A later decision (the next container of a pod) compiles it again if it was collected.
/// Every decision is the same policy's: the bundle is embedded and immutable.</summary>
internal sealed class OnDemandPolicy(Func<IPolicyEngine> compile) : IPolicyEngine
{
    private readonly Lock _gate = new();
    private readonly WeakReference<IPolicyEngine?> _collectable = new(null);
    private IPolicyEngine? _prewarmed;

    /// <summary>Compiles the policy in the background and holds it until the first decision takes it.</summary>
    public void Prewarm() => ThreadPool.UnsafeQueueUserWorkItem(_ =>
    {
        lock (_gate)
            _prewarmed = Compiled();
    }, null);

    public Task<PolicyDecision> DecideAsync(PolicyInput input, CancellationToken ct)
    {
        IPolicyEngine engine;
        lock (_gate)
        {
            engine = _prewarmed ?? Compiled();
            _prewarmed = null;
        }
        return engine.DecideAsync(input, ct);
    }

    private IPolicyEngine Compiled()
    {
        if (_collectable.TryGetTarget(out var engine) && engine is not null)
            return engine;
        engine = compile();
        _collectable.SetTarget(engine);
        return engine;
    }
}
