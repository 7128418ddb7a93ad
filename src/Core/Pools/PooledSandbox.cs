using Sandbox.Isolation;

namespace Sandbox.Core;

/// <summary>A sandbox waiting in a pool: created, its agent answering, never used. <see cref="CreatedAt"/> drives the
/// pool's TTL; <see cref="Limits"/> are those it was launched with (a claimant with the same ones writes none).</summary>
internal sealed record PooledSandbox(ISandbox Sandbox, DateTimeOffset CreatedAt, ResourceLimits Limits);
