using Sandbox.Isolation;

namespace Sandbox.Core;

public sealed partial class SandboxService
{
    /// <summary>Freezes the sandbox (Running → Paused). Needs the driver's Pause capability (else Unimplemented).</summary>
    public Task PauseAsync(Principal principal, SandboxId id, CancellationToken cancellationToken) =>
        ToggleAsync(principal, id, SandboxState.Running, SandboxState.Paused, "pause", SandboxEventKind.Paused,
            (sandbox, ct) => sandbox.PauseAsync(ct), cancellationToken);

    /// <summary>Thaws a paused sandbox (Paused → Running).</summary>
    public Task ResumeAsync(Principal principal, SandboxId id, CancellationToken cancellationToken) =>
        ToggleAsync(principal, id, SandboxState.Paused, SandboxState.Running, "resume", SandboxEventKind.Resumed,
            (sandbox, ct) => sandbox.ResumeAsync(ct), cancellationToken);

    /// <summary>Changes the limits of a running or paused sandbox, within what the policy granted it: a limit above
    /// its decision is refused (InvalidArgument naming the limit and the grant). Needs the UpdateLimits capability.</summary>
    public async Task UpdateLimitsAsync(Principal principal, SandboxId id, Isolation.ResourceLimits limits, CancellationToken cancellationToken)
    {
        var entry = registry.Get(principal.Tenant, id);
        // A container inside a pod's sandbox has limits of its own there (its cgroup in the pod's guest) whatever its
        // tier's driver can do for a sandbox of its own.
        if (entry.Info?.PodHost is null)
            await RequireCapabilityAsync(entry, DriverCapabilities.UpdateLimits, "update the limits of", cancellationToken).ConfigureAwait(false);
        var sandbox = entry.Require(SandboxLifecycle.CanUpdate, "update the limits of");
        var granted = entry.Decision.Resources;
        var errors = new List<string>();
        if (limits.MemoryMiB > granted.MemoryMiB) errors.Add($"memory {limits.MemoryMiB} MiB is above the granted {granted.MemoryMiB} MiB");
        if (limits.Cpus > granted.Vcpus) errors.Add($"cpus {limits.Cpus} is above the granted {granted.Vcpus}");
        if (limits.PidsMax > granted.Pids) errors.Add($"pids {limits.PidsMax} is above the granted {granted.Pids}");
        if (limits.WallTime is not { } wall || wall > TimeSpan.FromSeconds(granted.TimeoutSeconds))
            errors.Add($"wall time {limits.WallTime?.TotalSeconds.ToString("0.###") ?? "unlimited"} s is above the granted {granted.TimeoutSeconds} s");
        if (errors.Count > 0)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"sandbox {id}: {string.Join("; ", errors)} (ask the policy for more with a new sandbox)");
        await sandbox.UpdateLimitsAsync(limits, cancellationToken).ConfigureAwait(false);
        entry.Info = entry.Info! with { Limits = limits };
    }

    /// <summary>Moves <paramref name="from"/> → <paramref name="to"/> first (so two callers cannot both act), then asks
    /// the sandbox; a failure moves it back.</summary>
    private async Task ToggleAsync(Principal principal, SandboxId id, SandboxState from, SandboxState to, string verb, SandboxEventKind kind,
        Func<ISandbox, CancellationToken, Task> act, CancellationToken cancellationToken)
    {
        var entry = registry.Get(principal.Tenant, id);
        await RequireCapabilityAsync(entry, DriverCapabilities.Pause, verb, cancellationToken).ConfigureAwait(false);
        var sandbox = entry.Require(s => s == from, verb);
        entry.Transition(to, verb);
        try
        {
            await act(sandbox, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            entry.TryTransition(from, null, out _);
            throw;
        }
        await PublishAsync(kind, entry).ConfigureAwait(false);
    }

    private async Task RequireCapabilityAsync(SandboxEntry entry, DriverCapabilities capability, string verb, CancellationToken cancellationToken)
    {
        var probed = await drivers.ProbedAsync(cancellationToken).ConfigureAwait(false);
        if (!probed.IsAvailable(entry.Tier) || !probed.Get(entry.Tier).Capabilities.HasFlag(capability))
            throw new SandboxException(SandboxErrorCode.Unimplemented,
                $"the {TierNames.ToPolicy(entry.Tier)} tier cannot {verb} a sandbox (no {capability} capability)");
    }

    /// <summary>Follows a running sandbox until it ends: dying on its own (bwrap or QEMU exited) moves it to Exited
    /// and publishes Exited; being torn down by Core is already Stopping and changes nothing here.</summary>
    private async Task WatchAsync(SandboxEntry entry, ISandbox sandbox)
    {
        var end = await sandbox.Terminated.ConfigureAwait(false);
        if (end.Reason != SandboxTerminationReason.ProcessExited || !entry.TryTransition(SandboxState.Exited, end.Detail, out _))
            return;
        var status = end.ExitStatus is { } code
            ? new ExitStatus { ExitCode = code, Signal = code > 128 ? code - 128 : 0 }
            : null;
        await PublishAsync(SandboxEventKind.Exited, entry, status, end.Detail).ConfigureAwait(false);
    }
}
