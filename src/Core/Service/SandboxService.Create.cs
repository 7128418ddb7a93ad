using System.Diagnostics;
using Sandbox.Isolation;
using Sandbox.Policy;

namespace Sandbox.Core;

public sealed partial class SandboxService
{
    /// <summary>Creates a long-lived sandbox: policy, quota, registry (Creating), driver, state record (Running).
    /// A failed launch leaves nothing behind: registry entry, quota, record and the half-made sandbox are undone.</summary>
    public async Task<SandboxEntry> CreateAsync(Principal principal, SandboxRequest request, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var ttl = request.Ttl ?? options.DefaultTtl;
        if (ttl <= TimeSpan.Zero || ttl > options.MaxTtl)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"ttl_s {ttl.TotalSeconds:0} is out of range [1, {options.MaxTtl.TotalSeconds:0}]");
        var (decision, driver, spec) = await DecideAsync(principal, request, cancellationToken).ConfigureAwait(false);
        var tier = driver.Tier;
        var podHost = PodHostFor(principal, request, spec, tier);
        spec = spec with { DieWithOwner = DieWithOwner(driver), HostsPod = request.HostsPod && tier == SandboxTier.MicroVm && podHost is null };
        var reservation = quotas.Reserve(principal.Tenant, spec.Limits.MemoryMiB);
        // A warm pool's sandbox of this shape, when one waits (its id becomes this sandbox's); else a fresh launch.
        ISandbox? pooled;
        try
        {
            pooled = podHost is null ? (await ClaimPooledAsync(driver, spec, forCreate: true, cancellationToken).ConfigureAwait(false)).Sandbox : null;
        }
        catch
        {
            reservation.Dispose();
            throw;
        }
        // A miss launches a sandbox of its own: refill ahead of demand waits for it.
        using var launching = pooled is null ? pools.Activity.Enter() : default;
        var now = time.GetUtcNow();
        var entry = new SandboxEntry
        {
            Id = pooled?.Info.Id ?? spec.Id,
            Tenant = principal.Tenant,
            Labels = request.Labels,
            CreatedAt = now,
            ExpiresAt = now + ttl,
            Decision = decision,
            Tier = tier,
            MemoryMiB = spec.Limits.MemoryMiB,
            ImageDefaults = request.Image is { } image ? ResolveImage(image).Record.Defaults : null,
            Reservation = reservation,
        };
        try
        {
            registry.Add(entry);
        }
        catch
        {
            reservation.Dispose();
            if (pooled is not null)
                pools.Retire(pooled);
            throw;
        }
        await PublishAsync(SandboxEventKind.Created, entry).ConfigureAwait(false);
        try
        {
            entry.Sandbox = pooled ?? (podHost is not null
                // The pod's VM's network is the container's (PodHostFor checked it is the one its decision grants).
                ? await podHost.AddContainerAsync(spec with { NetworkOf = null }, cancellationToken).ConfigureAwait(false)
                : await driver.CreateAsync(spec, cancellationToken).ConfigureAwait(false));
            entry.Info = ClaimedInfo(entry.Sandbox, spec, pooled is not null && driver.Capabilities.HasFlag(DriverCapabilities.UpdateLimits));
            store.Save(SandboxRecords.From(entry));
            entry.Transition(SandboxState.Running, "start");
        }
        catch (Exception e)
        {
            await RollBackAsync(entry, e).ConfigureAwait(false);
            throw;
        }
        await PublishAsync(SandboxEventKind.Started, entry).ConfigureAwait(false);
        _ = WatchAsync(entry, entry.Sandbox);
        var elapsed = Stopwatch.GetElapsedTime(started);
        metrics.CreateCompleted(elapsed);
        CoreLog.Created(logger, entry.Id.Value, entry.Tenant, TierNames.ToPolicy(tier), decision.DecisionId, elapsed.TotalMilliseconds);
        return entry;
    }

    private async Task RollBackAsync(SandboxEntry entry, Exception cause)
    {
        entry.TryTransition(SandboxState.Deleted, $"launch failed: {cause.Message}", out _);
        registry.TryRemove(entry);
        try
        {
            store.Delete(entry.Id);
            if (entry.Sandbox is not null)
                await entry.Sandbox.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is SandboxException or IOException)
        {
            // The launch's own error is what the caller needs; this one is logged.
            CoreLog.RollbackFailed(logger, entry.Id.Value, entry.Tenant, e);
        }
        finally
        {
            entry.Reservation?.Dispose();
        }
        await PublishAsync(SandboxEventKind.Deleted, entry, detail: entry.StateDetail).ConfigureAwait(false);
    }

    /// <summary>Registers a sandbox re-attached at startup from its record: running again, counted in its tenant's
    /// quota (even past a quota lowered meanwhile: it exists).</summary>
    internal SandboxEntry Restore(SandboxRecord record, ISandbox sandbox)
    {
        var entry = new SandboxEntry
        {
            Id = sandbox.Info.Id,
            Tenant = record.Tenant,
            Labels = record.Labels,
            CreatedAt = record.CreatedAt,
            ExpiresAt = record.ExpiresAt,
            Decision = record.Decision ?? new PolicyDecision
            {
                Allow = true,
                Isolation = record.Tier,
                Resources = Policy.ResourceLimits.None,
                Network = NetworkPolicy.Disabled,
                SyscallProfile = new SyscallProfileRef(sandbox.Info.SyscallProfile, []),
                Reasons = [],
                DecisionId = record.DecisionId ?? "",
            },
            Tier = TierNames.FromPolicy(record.Tier),
            MemoryMiB = sandbox.Info.Limits.MemoryMiB,
            Reservation = quotas.Reserve(record.Tenant, sandbox.Info.Limits.MemoryMiB, enforce: false),
            Sandbox = sandbox,
            Info = sandbox.Info,
        };
        try
        {
            registry.Add(entry);
        }
        catch
        {
            entry.Reservation.Dispose();
            throw;
        }
        entry.Transition(SandboxState.Running, "re-attach");
        _ = WatchAsync(entry, sandbox);
        return entry;
    }
}
