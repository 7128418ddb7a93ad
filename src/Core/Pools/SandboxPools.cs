using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Sandbox.Isolation;

namespace Sandbox.Core;

/// <summary>Warm pools of both tiers, generic over the driver. Each pool keeps <see cref="PoolShape.Size"/> sandboxes
/// created and waiting (a container: bwrap and its agent answering, cgroup made; a microVM: the driver's create, a
/// clone restored from its template when there is one). A request whose translated spec has the pool's
/// <see cref="PoolKey"/> claims one (<see cref="TryClaim"/>); the claimant applies its limits and is the only user the
/// sandbox ever has: it is destroyed afterwards, never returned. Refill runs in the background and follows demand: a
/// request of a pool's shape (a hit, or a miss on an empty pool) is owed a replacement, which starts at once, up to
/// <see cref="PoolOptions.RefillConcurrency"/> launches side by side, so a steady load keeps claiming warm sandboxes
/// instead of draining the pool. Refill ahead of demand (the first fill, TTL replacements) runs one at a time, at most
/// <see cref="PoolOptions.MaxRefillPerSecond"/>, after waiting (bounded) while requests launch sandboxes of their own
/// (misses: <see cref="LaunchActivity"/>). Pooled sandboxes belong to no tenant and have no state record (a restarted owner reclaims
/// them as leftovers, never re-attaches them); those older than <see cref="PoolOptions.Ttl"/> are replaced; disposing
/// the pools destroys every waiting sandbox and waits for every one being torn down.</summary>
public sealed class SandboxPools : IAsyncDisposable
{
    private static readonly TimeSpan s_maxIdleWait = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan s_maxBackoff = TimeSpan.FromSeconds(60);

    private readonly PoolOptions _options;
    private readonly TimeProvider _time;
    private readonly ISandboxMetrics _metrics;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<PoolKey, WarmPool> _pools = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _retiringLock = new();
    private readonly HashSet<Task> _retiring = [];
    private TaskCompletionSource _wake = NewSignal();
    private TaskCompletionSource _changed = NewSignal();
    private Task _loop = Task.CompletedTask;
    private int _closed;

    internal SandboxPools(PoolOptions options, TimeProvider time, ISandboxMetrics metrics, ILogger logger)
    {
        _options = options;
        _time = time;
        _metrics = metrics;
        _logger = logger;
    }

    internal LaunchActivity Activity { get; } = new();

    public PoolOptions Options => _options;

    /// <summary>Sandboxes waiting, by pool name (pools that run here only).</summary>
    public IReadOnlyDictionary<string, int> Sizes => _pools.Values.ToDictionary(p => p.Name, p => p.Count);

    /// <summary>Refills launching now, over all pools (started, not yet added or failed).</summary>
    public int Launching => _pools.Values.Sum(p => p.Launching);

    /// <summary>Sandboxes being torn down after their claimant finished (or replaced), not yet gone.</summary>
    public int Retiring
    {
        get
        {
            lock (_retiringLock)
                return _retiring.Count;
        }
    }

    /// <summary>Adds a pool (before <see cref="Start"/>); a second shape with the same key is the same pool and is
    /// refused.</summary>
    internal bool TryAdd(PoolShape shape, ISandboxDriver driver, SandboxSpec template, PoolKey key) =>
        _pools.TryAdd(key, new WarmPool(shape, driver, template, key));

    /// <summary>Starts the refill loop.</summary>
    internal void Start()
    {
        if (_pools.IsEmpty || Volatile.Read(ref _closed) != 0)
            return;
        _loop = Task.Run(() => RefillLoopAsync(_stop.Token));
    }

    /// <summary>A waiting sandbox for a spec with this key, taken out of its pool (a hit), or null (a miss: the caller
    /// launches a fresh one). Wakes the refill either way. <paramref name="forRun"/>: a one-shot run's claim, counted
    /// until the caller disposes <c>Run</c> where the pool's refill waits for it
    /// (<see cref="WarmPool.RefillWaitsForClaimedRuns"/>; counted before the refill is woken, so it cannot miss it).</summary>
    internal (PooledSandbox? Sandbox, string Pool, LaunchActivity.Scope Run) TryClaim(PoolKey? key, bool forRun = false)
    {
        if (Volatile.Read(ref _closed) != 0 || key is null || !_pools.TryGetValue(key, out var pool))
        {
            _metrics.PoolClaimed("", hit: false);
            return (null, "", default);
        }
        var discarded = new List<PooledSandbox>();
        var taken = pool.TryTake(_time.GetUtcNow() - _options.Ttl, discarded);
        var run = taken is not null && forRun && pool.RefillWaitsForClaimedRuns ? pool.ClaimedRuns.Enter() : default;
        pool.Owe();
        foreach (var stale in discarded)
            Retire(pool, stale.Sandbox, replaced: true);
        _metrics.PoolClaimed(pool.Name, taken is not null);
        _metrics.PoolSize(pool.Name, pool.Count);
        Signal(ref _wake);
        return (taken, pool.Name, run);
    }

    /// <summary>Destroys a sandbox that came from a pool, in the background (its claimant is done, or it could not
    /// be used); <see cref="DisposeAsync"/> waits for it.</summary>
    internal void Retire(ISandbox sandbox) => Retire(null, sandbox, replaced: false);

    private void Retire(WarmPool? pool, ISandbox sandbox, bool replaced)
    {
        if (replaced && pool is not null)
            _metrics.PoolReplaced(pool.Name);
        var task = DisposeQuietlyAsync(sandbox);
        lock (_retiringLock)
        {
            if (!task.IsCompleted)
                _retiring.Add(task);
        }
        _ = task.ContinueWith(t =>
        {
            lock (_retiringLock)
                _retiring.Remove(t);
            Signal(ref _changed);
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private async Task DisposeQuietlyAsync(ISandbox sandbox)
    {
        await Task.Yield();
        try
        {
            await sandbox.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            PoolLog.TeardownFailed(_logger, sandbox.Info.Id.Value, e);
        }
    }

    /// <summary>Waits until <paramref name="condition"/> holds; re-checked whenever a pool or the retiring set changes
    /// (tests and benchmarks wait for a full pool this way, never by sleeping).</summary>
    public async Task WaitUntilAsync(Func<SandboxPools, bool> condition, CancellationToken cancellationToken)
    {
        while (true)
        {
            var changed = Volatile.Read(ref _changed).Task;
            if (condition(this))
                return;
            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task RefillLoopAsync(CancellationToken stop)
    {
        var interval = TimeSpan.FromSeconds(1 / _options.MaxRefillPerSecond);
        long? lastAhead = null;
        var launching = new List<Task>();
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var wake = Volatile.Read(ref _wake).Task;
                var now = _time.GetUtcNow();
                ReplaceStale(now);
                launching.RemoveAll(t => t.IsCompleted);
                var pool = launching.Count >= Math.Max(1, _options.RefillConcurrency) ? null : _pools.Values
                    .Where(p => p.NeedsRefill && p.RetryAt <= now)
                    .OrderBy(p => (p.Count + p.Launching) / (double)p.Shape.Size)
                    .FirstOrDefault();
                // Owed (a request took one, or found none): start now. Ahead of demand: one at a time, after the yield
                // and the rate limit.
                var owed = _options.RefillConcurrency > 0 && pool?.TryTakeOwed() == true;
                if (pool is null || (!owed && launching.Count > 0))
                {
                    var woken = launching.Count > 0 ? Task.WhenAny(wake, Task.WhenAny(launching)) : wake;
                    await SleepAsync(woken, NextDeadline(now), stop).ConfigureAwait(false);
                    continue;
                }
                if (!owed)
                {
                    // Load is real time, whatever clock the TTLs run on: the yield and the rate limit wait on the system's.
                    await Activity.WaitIdleAsync(_options.YieldLimit, stop).ConfigureAwait(false);
                    if (lastAhead is { } last && Stopwatch.GetElapsedTime(last) is var since && since < interval)
                        await Task.Delay(interval - since, stop).ConfigureAwait(false);
                    lastAhead = Stopwatch.GetTimestamp();
                }
                pool.RefillStarted();
                launching.Add(RefillOneAsync(pool, stop));
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        // Refills in flight finish (each disposes its sandbox when the pools closed meanwhile) before the pools are
        // emptied.
        await Task.WhenAll(launching).ConfigureAwait(false);
    }

    /// <summary>One refill (counted in <see cref="WarmPool.Launching"/> by the caller); never throws.</summary>
    private async Task RefillOneAsync(WarmPool pool, CancellationToken stop)
    {
        await Task.Yield();
        var started = Stopwatch.GetTimestamp();
        var spec = pool.NextSpec();
        try
        {
            if (pool.RefillWaitsForClaimedRuns && pool.ClaimedRuns.Busy)
            {
                await pool.ClaimedRuns.WaitIdleAsync(_options.YieldLimit, stop).ConfigureAwait(false);
                started = Stopwatch.GetTimestamp();
            }
            var sandbox = await pool.Driver.CreateAsync(spec, stop).ConfigureAwait(false);
            if (sandbox is IWarmUp warm)
            {
                // Its first exec's one-time cost is paid here, not by the claimant's request (IWarmUp).
                try
                {
                    await warm.WarmUpAsync(stop).ConfigureAwait(false);
                }
                catch
                {
                    await sandbox.DisposeAsync().ConfigureAwait(false);
                    throw;
                }
            }
            if (Volatile.Read(ref _closed) != 0)
            {
                await sandbox.DisposeAsync().ConfigureAwait(false);
                return;
            }
            pool.Add(new PooledSandbox(sandbox, _time.GetUtcNow(), spec.Limits));
            // One that dies while it waits (its bwrap or QEMU exited) is replaced at once, not at its TTL.
            _ = sandbox.Terminated.ContinueWith(_ => Signal(ref _wake), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            pool.Failures = 0;
            _metrics.PoolRefilled(pool.Name, Stopwatch.GetElapsedTime(started));
            _metrics.PoolSize(pool.Name, pool.Count);
        }
        catch (Exception e) when (e is not OperationCanceledException || !stop.IsCancellationRequested)
        {
            // A pool that cannot be filled costs nothing but misses: requests launch fresh sandboxes. Back off so a
            // broken shape does not spin.
            pool.Failures++;
            var backoff = TimeSpan.FromSeconds(Math.Min(s_maxBackoff.TotalSeconds, Math.Pow(2, pool.Failures - 1)));
            pool.RetryAt = _time.GetUtcNow() + backoff;
            PoolLog.RefillFailed(_logger, pool.Name, spec.Id.Value, backoff.TotalSeconds, e);
        }
        catch (OperationCanceledException)
        {
            // Stopping: the pools are being disposed.
        }
        finally
        {
            pool.RefillEnded();
            Signal(ref _changed);
            Signal(ref _wake);
        }
    }

    /// <summary>Takes out and destroys the sandboxes past their TTL or found dead; the loop then refills.</summary>
    private void ReplaceStale(DateTimeOffset now)
    {
        foreach (var pool in _pools.Values)
        {
            var stale = pool.TakeStale(now - _options.Ttl);
            foreach (var p in stale)
                Retire(pool, p.Sandbox, replaced: true);
            if (stale.Count > 0)
            {
                PoolLog.Replaced(_logger, pool.Name, stale.Count);
                _metrics.PoolSize(pool.Name, pool.Count);
                Signal(ref _changed);
            }
        }
    }

    /// <summary>When the loop must look again without being woken: the oldest sandbox's TTL, a backed-off refill.</summary>
    private TimeSpan NextDeadline(DateTimeOffset now)
    {
        var next = now + s_maxIdleWait;
        foreach (var pool in _pools.Values)
        {
            if (pool.Oldest is { } oldest && oldest + _options.Ttl < next)
                next = oldest + _options.Ttl;
            if (pool.NeedsRefill && pool.RetryAt > now && pool.RetryAt < next)
                next = pool.RetryAt;
        }
        return next - now;
    }

    private async Task SleepAsync(Task wake, TimeSpan timeout, CancellationToken stop)
    {
        if (timeout <= TimeSpan.Zero)
            return;
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(stop);
        await Task.WhenAny(wake, Task.Delay(timeout, _time, timer.Token)).ConfigureAwait(false);
        await timer.CancelAsync().ConfigureAwait(false);
        stop.ThrowIfCancellationRequested();
    }

    private static void Signal(ref TaskCompletionSource signal) => Interlocked.Exchange(ref signal, NewSignal()).TrySetResult();

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Stops refilling (waiting for a refill in flight), destroys every waiting sandbox and waits for every
    /// one being torn down: nothing of a pool outlives it (processes, cgroups, mounts, sockets).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
            return;
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        foreach (var pool in _pools.Values)
        {
            foreach (var p in pool.TakeAll())
                Retire(pool, p.Sandbox, replaced: false);
            _metrics.PoolSize(pool.Name, 0);
        }
        Task[] pending;
        lock (_retiringLock)
            pending = [.. _retiring];
        await Task.WhenAll(pending).ConfigureAwait(false);
        _stop.Dispose();
    }
}
