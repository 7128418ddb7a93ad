using Sandbox.Isolation;

namespace Sandbox.Core;

public sealed partial class SandboxService
{
    /// <summary>What a one-shot run reports before its process starts: where it runs and what it got.</summary>
    public sealed record RunStarted(SandboxId Id, SandboxTier Tier, string DecisionId, Isolation.ResourceLimits Limits);

    /// <summary>One process in an ephemeral sandbox: same policy and quotas as a create, torn down when it ends.
    /// Cancelling <paramref name="cancellationToken"/> kills the process (the whole sandbox).</summary>
    public async Task<ExitStatus> RunAsync(Principal principal, SandboxRequest request, ProcessSpec process, ProcessIO io,
        Func<RunStarted, Task> onStarted, CancellationToken cancellationToken)
    {
        var (decision, driver, spec) = await DecideAsync(principal, request, cancellationToken).ConfigureAwait(false);
        if (request.Image is { } imageName)
            process = DecisionTranslator.ApplyImageDefaults(process, ResolveImage(imageName).Record.Defaults);
        else if (process.Argv.Count == 0)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, "no command given, and no image whose Entrypoint or Cmd would run");
        var tier = driver.Tier;
        using var reservation = quotas.Reserve(principal.Tenant, spec.Limits.MemoryMiB);
        // A warm pool's sandbox when one of this shape waits (the one-shot path has no terminal: a TTY run goes to the
        // driver, which refuses it); else the driver's one-shot path.
        var (pooled, claimedRun) = process.Tty is null ? await ClaimPooledAsync(driver, spec, forCreate: false, cancellationToken).ConfigureAwait(false) : (null, default);
        // A hit's run is counted by its pool until it ends (a microVM pool's refill waits for it:
        // WarmPool.RefillWaitsForClaimedRuns). A miss launches a sandbox of its own: refill ahead of demand waits for it.
        using var claimed = claimedRun;
        using var launching = pooled is null ? pools.Activity.Enter() : default;
        if (pooled is not null)
            spec = spec with { Id = pooled.Info.Id };
        await PublishAsync(SandboxEventKind.Created, spec.Id, principal.Tenant, tier).ConfigureAwait(false);
        var detail = "run ended";
        try
        {
            try
            {
                await onStarted(new RunStarted(spec.Id, tier, decision.DecisionId, spec.Limits)).ConfigureAwait(false);
            }
            catch when (pooled is not null)
            {
                pools.Retire(pooled);
                throw;
            }
            await PublishAsync(SandboxEventKind.Started, spec.Id, principal.Tenant, tier).ConfigureAwait(false);
            var status = pooled is not null
                ? await RunInPooledAsync(pooled, spec, process, io, cancellationToken).ConfigureAwait(false)
                : await driver.RunAsync(spec, DecisionTranslator.ClampTimeout(process, spec.Limits), io, cancellationToken).ConfigureAwait(false);
            metrics.ProcessCompleted("run", status.Duration, status.OomKilled, status.TimedOut);
            if (status.OomKilled)
                await PublishAsync(SandboxEventKind.Oom, spec.Id, principal.Tenant, tier, status).ConfigureAwait(false);
            await PublishAsync(SandboxEventKind.Exited, spec.Id, principal.Tenant, tier, status).ConfigureAwait(false);
            return status;
        }
        catch (Exception e)
        {
            detail = $"run failed: {e.Message}";
            throw;
        }
        finally
        {
            await PublishAsync(SandboxEventKind.Deleted, spec.Id, principal.Tenant, tier, detail: detail).ConfigureAwait(false);
        }
    }
}
