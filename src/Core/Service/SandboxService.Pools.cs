using Sandbox.Isolation;

namespace Sandbox.Core;

public sealed partial class SandboxService
{
    /// <summary>Whether sandboxes launched for a long-lived sandbox on <paramref name="driver"/> outlive their owner:
    /// a daemon's do when the driver can take them back (the next one re-attaches them, RestartRecovery); a tier
    /// without re-attach dies with its owner (and is reclaimed after a crash). Pooled sandboxes are launched the same
    /// way, so one can become a long-lived sandbox.</summary>
    private bool DieWithOwner(ISandboxDriver driver) =>
        !(options.SandboxesOutliveOwner && driver.Capabilities.HasFlag(DriverCapabilities.Attach));

    /// <summary>A pool's launch spec: what the policy decides for the shape's request, translated like any request's
    /// (no second copy of launch logic), with no environment of its own. Null, with why, when the shape cannot be
    /// pooled here.</summary>
    internal async Task<(ISandboxDriver? Driver, SandboxSpec? Template, PoolKey? Key, string Why)> PoolTemplateAsync(PoolShape shape,
        CancellationToken cancellationToken)
    {
        var probed = await drivers.ProbedAsync(cancellationToken).ConfigureAwait(false);
        if (shape.Request.Tier is { } wanted && !probed.IsAvailable(wanted))
            return (null, null, null, $"the {TierNames.ToPolicy(wanted)} tier is not available here: {probed.Unavailable.GetValueOrDefault(wanted)}");
        if (shape.KvmOnly && probed.Accelerator != Accelerator.Kvm)
            return (null, null, null, $"it is kept only where microVMs run on KVM (the accelerator here is {TierNames.ToPolicy(probed.Accelerator)})");
        ISandboxDriver driver;
        SandboxSpec spec;
        string decisionId;
        try
        {
            var decided = await DecideAsync(shape.Principal, shape.Request, cancellationToken).ConfigureAwait(false);
            (driver, spec, decisionId) = (decided.Driver, decided.Spec, decided.Decision.DecisionId);
        }
        catch (SandboxException e)
        {
            return (null, null, null, $"the policy's decision for its request cannot be launched: {e.Message}");
        }
        if (shape.Request.Tier is { } tier && driver.Tier != tier)
            return (null, null, null, $"the policy puts its request on the {TierNames.ToPolicy(driver.Tier)} tier, not {TierNames.ToPolicy(tier)}");
        spec = spec with { Env = new Dictionary<string, string>(), DieWithOwner = DieWithOwner(driver) };
        var key = PoolKey.Of(driver.Tier, spec, driver.Capabilities.HasFlag(DriverCapabilities.UpdateLimits));
        if (key is null)
            return (null, null, null, "its decision grants network egress (an allowlist is pinned per sandbox at launch)");
        PoolLog.Started(logger, shape.Name, shape.Size, TierNames.ToPolicy(driver.Tier), decisionId);
        return (driver, spec, key, "");
    }

    /// <summary>A pooled sandbox for <paramref name="spec"/> with the spec's limits applied, or null (a miss: launch a
    /// fresh one). A sandbox that cannot take the limits is destroyed and counts as a miss; nothing here fails the
    /// request but cancellation. Limits equal to those the sandbox was launched with (the usual case: the policy decides
    /// a pool's shape as it decides its requests) are already in force: the claim writes nothing.</summary>
    /// <param name="forCreate">A long-lived sandbox keeps its environment in the driver (re-attach restores it from
    /// there): only a request without one can take a pooled sandbox. A one-shot run puts it in its process instead.</param>
    /// <returns>The sandbox, and for a one-shot run the scope its pool counts the run with until it is disposed
    /// (<see cref="SandboxPools.TryClaim"/>).</returns>
    private async Task<(ISandbox? Sandbox, LaunchActivity.Scope Run)> ClaimPooledAsync(ISandboxDriver driver, SandboxSpec spec, bool forCreate, CancellationToken cancellationToken)
    {
        var changeable = driver.Capabilities.HasFlag(DriverCapabilities.UpdateLimits);
        var key = forCreate && spec.Env.Count > 0 ? null : PoolKey.Of(driver.Tier, spec with { DieWithOwner = DieWithOwner(driver) }, changeable);
        var (pooled, pool, run) = pools.TryClaim(key, forRun: !forCreate);
        if (pooled is null || !changeable || pooled.Limits == spec.Limits)
            return (pooled?.Sandbox, run);
        var sandbox = pooled.Sandbox;
        try
        {
            await sandbox.UpdateLimitsAsync(spec.Limits, cancellationToken).ConfigureAwait(false);
            return (sandbox, run);
        }
        catch (Exception e)
        {
            run.Dispose();
            pools.Retire(sandbox);
            if (e is OperationCanceledException)
                throw;
            PoolLog.ClaimFailed(logger, sandbox.Info.Id.Value, pool, e.Message);
            return (null, default);
        }
    }

    /// <summary>What a claimed sandbox reports: the pooled sandbox's, with the claimant's limits (a CPU quota only
    /// where the host enforces one, as a fresh launch reports it).</summary>
    private static SandboxInfo ClaimedInfo(ISandbox sandbox, SandboxSpec spec, bool limitsApplied) =>
        limitsApplied
            ? sandbox.Info with { Limits = spec.Limits with { Cpus = sandbox.Info.Limits.Cpus > 0 ? spec.Limits.Cpus : 0 } }
            : sandbox.Info;

    /// <summary>The one process of a one-shot run in a claimed sandbox: the sandbox's environment under the process's
    /// own, the wall time clamped, the sandbox destroyed afterwards whatever happens (in the background, off the
    /// caller's path). Cancelling kills the process (the whole sandbox).</summary>
    private async Task<ExitStatus> RunInPooledAsync(ISandbox sandbox, SandboxSpec spec, ProcessSpec process, ProcessIO io, CancellationToken cancellationToken)
    {
        try
        {
            var env = new Dictionary<string, string>(spec.Env);
            foreach (var (k, v) in process.Env)
                env[k] = v;
            process = DecisionTranslator.ClampTimeout(process, spec.Limits);
            process = process with { Env = env, Timeout = process.Timeout ?? spec.Limits.WallTime };
            // Its one exec uses the first stage the pool prepared; nothing is prepared after it.
            (sandbox as IPreparesExecs)?.StopPreparing();
            // The one-shot caller's signals (a CLI's Ctrl-C) go to the process, as on the fresh path.
            return await sandbox.ExecToExitAsync(process, io, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            pools.Retire(sandbox);
        }
    }
}
