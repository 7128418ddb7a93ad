namespace Sandbox.Core;

/// <summary>Counts the requests launching sandboxes of their own right now (pool misses), so refill ahead of demand
/// can wait for them (it yields to real work). A request served from a pool launches nothing and is not counted: a pool
/// that keeps up must not hold back its own refill. (A microVM pool also counts its claimed runs with one of these:
/// <see cref="WarmPool.ClaimedRuns"/>.)</summary>
internal sealed class LaunchActivity
{
    private readonly Lock _lock = new();
    private int _active;
    private TaskCompletionSource _idle = Completed();

    public Scope Enter()
    {
        lock (_lock)
        {
            if (_active++ == 0)
                _idle = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        return new Scope(this);
    }

    private void Exit()
    {
        lock (_lock)
        {
            if (--_active == 0)
                _idle.TrySetResult();
        }
    }

    /// <summary>Whether something is counted now.</summary>
    public bool Busy
    {
        get
        {
            lock (_lock)
                return _active > 0;
        }
    }

    /// <summary>Returns when no request is launching, or after <paramref name="limit"/> (refill must not starve under
    /// a steady load either).</summary>
    public async Task WaitIdleAsync(TimeSpan limit, CancellationToken cancellationToken)
    {
        Task idle;
        lock (_lock)
            idle = _idle.Task;
        if (idle.IsCompleted)
            return;
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        await Task.WhenAny(idle, Task.Delay(limit, timer.Token)).ConfigureAwait(false);
        await timer.CancelAsync().ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
    }

    private static TaskCompletionSource Completed()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        done.SetResult();
        return done;
    }

    /// <summary>Ends the launch; the default one (nothing entered) does nothing.</summary>
    public readonly struct Scope(LaunchActivity? owner) : IDisposable
    {
        public void Dispose() => owner?.Exit();
    }
}
