using Sandbox.Isolation;

namespace Sandbox.Core;

/// <summary>Warm pools: sandboxes created ahead of requests, one pool per <see cref="PoolShape"/>. Empty
/// <see cref="Shapes"/> = no pools (the CLI's local runs).</summary>
public sealed record PoolOptions
{
    public IReadOnlyList<PoolShape> Shapes { get; init; } = [];

    /// <summary>Most pooled sandboxes created per second ahead of demand (filling a pool, replacing stale ones), over
    /// all pools: that refill never floods the host. Default 5. A refill that replaces a sandbox a request took (or
    /// asked for in vain) is demand, bounded by <see cref="RefillConcurrency"/> instead.</summary>
    public double MaxRefillPerSecond { get; init; } = 5;

    /// <summary>Most refills launching at once, over all pools. Only refills that replace claimed sandboxes run
    /// side by side; refill ahead of demand runs one at a time. Default 2. 0: no refill follows demand, every refill
    /// is ahead of it (one at a time, rate-limited, yielding to launches): under a steady load the pool then stays
    /// mostly empty and requests take the one-shot path, which costs less CPU per run than a pooled sandbox here
    /// (bench/sandboxd): throughput over latency.</summary>
    public int RefillConcurrency { get; init; } = 2;

    /// <summary>A pooled sandbox older than this is destroyed and replaced (its clock, caches and entropy do not go
    /// stale waiting). Default 10 min.</summary>
    public TimeSpan Ttl { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Refill ahead of demand yields to real work: while requests are launching sandboxes of their own (pool
    /// misses) it waits, at most this long per refill, for them to finish. Default 2 s.</summary>
    public TimeSpan YieldLimit { get; init; } = TimeSpan.FromSeconds(2);
}

/// <summary>One pool: <see cref="Size"/> sandboxes of what the policy decides for <see cref="Request"/> made by
/// <see cref="Principal"/>. The shape is never written twice: the pool's sandboxes are launched from the spec
/// <see cref="DecisionTranslator"/> makes of that decision, and a request claims one when the same translation of its
/// own decision matches in everything fixed at launch (<see cref="PoolKey"/>).</summary>
/// <param name="Name">Names the pool in logs and metrics.</param>
/// <param name="KvmOnly">Keep this pool only where microVMs run on KVM (a TCG host spends seconds of CPU per clone).</param>
public sealed record PoolShape(string Name, int Size, Principal Principal, SandboxRequest Request, bool KvmOnly = false);
