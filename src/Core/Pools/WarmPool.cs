using Sandbox.Isolation;

namespace Sandbox.Core;

/// <summary>The sandboxes of one shape waiting to be claimed, oldest first. Thread-safe; the refill loop of
/// <see cref="SandboxPools"/> is the only writer besides claims.</summary>
internal sealed class WarmPool(PoolShape shape, ISandboxDriver driver, SandboxSpec template, PoolKey key)
{
    private readonly Lock _lock = new();
    private readonly Queue<PooledSandbox> _ready = new();
    private int _launching;
    private int _owed;

    public PoolShape Shape => shape;
    public ISandboxDriver Driver => driver;
    public PoolKey Key => key;
    public string Name => shape.Name;

    /// <summary>One-shot runs in sandboxes claimed from this pool, still running.</summary>
    public LaunchActivity ClaimedRuns { get; } = new();

    /// <summary>A refill that replaces a claimed sandbox first waits (bounded) for the claimant's run to end: a
    /// microVM's refill (a restore and its warm-up exec) costs QEMU hundreds of ms of CPU under TCG, more than the
    /// claimant's own exec, and started at claim time it competes with that exec for the host's CPUs. A container's
    /// refill costs tens of ms and starts at once (a steady load of one-shot runs keeps its pool full).</summary>
    public bool RefillWaitsForClaimedRuns => driver.Tier == SandboxTier.MicroVm;

    /// <summary>Consecutive failed refills (backs the next one off) and when the next may start.</summary>
    public int Failures { get; set; }
    public DateTimeOffset RetryAt { get; set; } = DateTimeOffset.MinValue;

    public int Count
    {
        get
        {
            lock (_lock)
                return _ready.Count;
        }
    }

    /// <summary>Refills of this pool launching now.</summary>
    public int Launching => Volatile.Read(ref _launching);

    /// <summary>Waiting plus launching is below the size. (A refill adds its sandbox before it stops counting as
    /// launching, so the sum never dips below what exists.)</summary>
    public bool NeedsRefill => Count + Launching < shape.Size;

    public void RefillStarted() => Interlocked.Increment(ref _launching);

    public void RefillEnded() => Interlocked.Decrement(ref _launching);

    /// <summary>A request of this pool's shape came (it took a sandbox, or found none): the refill that replaces it is
    /// demand, not speculation. At most <see cref="PoolShape.Size"/> are owed.</summary>
    public void Owe()
    {
        lock (_lock)
            _owed = Math.Min(shape.Size, _owed + 1);
    }

    /// <summary>Takes one owed refill; false when nothing is owed (the refill would be ahead of demand).</summary>
    public bool TryTakeOwed()
    {
        lock (_lock)
        {
            if (_owed == 0)
                return false;
            _owed--;
            return true;
        }
    }

    /// <summary>A fresh spec for the next pooled sandbox: the template with an id of its own.</summary>
    public SandboxSpec NextSpec() => template with { Id = SandboxId.New() };

    public void Add(PooledSandbox sandbox)
    {
        lock (_lock)
            _ready.Enqueue(sandbox);
    }

    /// <summary>The oldest live sandbox younger than <paramref name="notBefore"/>'s cut, or null. Those found dead or
    /// too old are handed to <paramref name="discarded"/>.</summary>
    public PooledSandbox? TryTake(DateTimeOffset notBefore, List<PooledSandbox> discarded)
    {
        lock (_lock)
        {
            while (_ready.TryDequeue(out var next))
            {
                if (next.CreatedAt > notBefore && !next.Sandbox.Terminated.IsCompleted)
                    return next;
                discarded.Add(next);
            }
            return null;
        }
    }

    /// <summary>Removes the sandboxes created at or before <paramref name="cut"/> or already dead.</summary>
    public List<PooledSandbox> TakeStale(DateTimeOffset cut)
    {
        lock (_lock)
        {
            var stale = _ready.Where(p => p.CreatedAt <= cut || p.Sandbox.Terminated.IsCompleted).ToList();
            if (stale.Count > 0)
            {
                var keep = _ready.Except(stale).ToList();
                _ready.Clear();
                foreach (var p in keep)
                    _ready.Enqueue(p);
            }
            return stale;
        }
    }

    public List<PooledSandbox> TakeAll()
    {
        lock (_lock)
        {
            var all = _ready.ToList();
            _ready.Clear();
            return all;
        }
    }

    /// <summary>When the oldest waiting sandbox was created, or null when none waits.</summary>
    public DateTimeOffset? Oldest
    {
        get
        {
            lock (_lock)
                return _ready.Count > 0 ? _ready.Min(p => p.CreatedAt) : null;
        }
    }
}
