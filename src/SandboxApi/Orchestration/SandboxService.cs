using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Sandbox.Isolation;
using Sandbox.Policy;
using Sandbox.SandboxApi.Auth;
using Sandbox.SandboxApi.Configuration;
using Sandbox.SandboxApi.Metrics;

namespace Sandbox.SandboxApi.Orchestration;

/// <summary>The orchestration behind the API: policy → spec → driver → registry, for long-lived sandboxes and
/// one-shot runs. Knows nothing of gRPC (the API layer maps to and from the wire); throws SandboxException only.
/// Exec, files and deletion are in the other parts of this partial class.</summary>
public sealed partial class SandboxService(
    IPolicyEngine policy,
    DriverRegistry drivers,
    SandboxRegistry registry,
    StateStore store,
    TenantQuotas quotas,
    SandboxdMetrics metrics,
    SandboxdConfig config,
    TimeProvider time,
    ILogger<SandboxService> logger)
{
    /// <summary>What a one-shot run reports before its process starts.</summary>
    public sealed record RunStarted(SandboxId Id, SandboxTier Tier, string DecisionId);

    /// <summary>The decision a create request would get now (a dry run: nothing is created, quotas untouched).</summary>
    public Task<PolicyDecision> ExplainAsync(Principal principal, SandboxRequest request, CancellationToken cancellationToken) =>
        policy.DecideAsync(BuildInput(principal, request, "create"), cancellationToken);

    public async Task<SandboxEntry> CreateAsync(Principal principal, SandboxRequest request, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var ttl = request.Ttl ?? TimeSpan.FromSeconds(config.Sandboxes.DefaultTtlS);
        if (ttl <= TimeSpan.Zero || ttl > TimeSpan.FromSeconds(config.Sandboxes.MaxTtlS))
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"ttl_s {ttl.TotalSeconds:0} is out of range [1, {config.Sandboxes.MaxTtlS}]");
        var (decision, tier, spec) = await DecideAsync(principal, request, cancellationToken).ConfigureAwait(false);
        // Long-lived sandboxes outlive a sandboxd that is killed: a restarted one re-attaches them (RestartRecovery).
        spec = spec with { DieWithOwner = false };
        var driver = drivers.Get(tier);
        var reservation = quotas.Reserve(principal.Tenant, spec.Limits.MemoryMiB);
        var now = time.GetUtcNow();
        var entry = new SandboxEntry
        {
            Id = spec.Id,
            Tenant = principal.Tenant,
            Labels = request.Labels,
            CreatedAt = now,
            ExpiresAt = now + ttl,
            Decision = decision,
            Tier = tier,
            MemoryMiB = spec.Limits.MemoryMiB,
            Reservation = reservation,
        };
        registry.Add(entry);
        try
        {
            entry.Sandbox = await driver.CreateAsync(spec, cancellationToken).ConfigureAwait(false);
            entry.Info = entry.Sandbox.Info;
            store.Save(ToRecord(entry));
            entry.State = SandboxLifecycle.Running;
        }
        catch
        {
            registry.TryRemove(entry);
            if (entry.Sandbox is not null)
                await entry.Sandbox.DisposeAsync().ConfigureAwait(false);
            reservation.Dispose();
            throw;
        }
        var elapsed = Stopwatch.GetElapsedTime(started);
        metrics.CreateCompleted(elapsed);
        SandboxServiceLog.Created(logger, entry.Id.Value, entry.Tenant, TierNames.ToPolicy(tier), decision.DecisionId, elapsed.TotalMilliseconds);
        return entry;
    }

    /// <summary>Registers a sandbox re-attached at startup from its record: running again, counted in its tenant's
    /// quota (even past a quota lowered meanwhile: it exists).</summary>
    internal SandboxEntry Restore(SandboxRecord record, ISandbox sandbox)
    {
        var tier = TierNames.FromPolicy(record.Tier);
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
            Tier = tier,
            MemoryMiB = sandbox.Info.Limits.MemoryMiB,
            Reservation = quotas.Reserve(record.Tenant, sandbox.Info.Limits.MemoryMiB, enforce: false),
            Sandbox = sandbox,
            Info = sandbox.Info,
            State = SandboxLifecycle.Running,
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
        return entry;
    }

    public SandboxEntry Get(Principal principal, SandboxId id) => registry.Get(principal.Tenant, id);

    public IReadOnlyList<SandboxEntry> List(Principal principal) => registry.ListFor(principal.Tenant);

    /// <summary>One process in an ephemeral sandbox: same policy and quotas as a create, torn down when it ends.
    /// Cancelling <paramref name="cancellationToken"/> kills the process (the whole sandbox).</summary>
    public async Task<ExitStatus> RunAsync(Principal principal, SandboxRequest request, ProcessSpec process, ProcessIO io,
        Func<RunStarted, Task> onStarted, CancellationToken cancellationToken)
    {
        var (decision, tier, spec) = await DecideAsync(principal, request, cancellationToken).ConfigureAwait(false);
        var driver = drivers.Get(tier);
        using var reservation = quotas.Reserve(principal.Tenant, spec.Limits.MemoryMiB);
        await onStarted(new RunStarted(spec.Id, tier, decision.DecisionId)).ConfigureAwait(false);
        var status = await driver.RunAsync(spec, ClampTimeout(process, spec.Limits), io, cancellationToken).ConfigureAwait(false);
        metrics.ProcessCompleted("run", status.Duration, status.OomKilled, status.TimedOut);
        return status;
    }

    /// <summary>A process may ask for less time than the policy granted, never more.</summary>
    internal static ProcessSpec ClampTimeout(ProcessSpec process, Isolation.ResourceLimits limits) =>
        process.Timeout is { } t && limits.WallTime is { } max && t > max ? process with { Timeout = max } : process;

    private async Task<(PolicyDecision, SandboxTier, SandboxSpec)> DecideAsync(Principal principal, SandboxRequest request, CancellationToken cancellationToken)
    {
        var decision = await policy.DecideAsync(BuildInput(principal, request, "create"), cancellationToken).ConfigureAwait(false);
        metrics.PolicyDecided(decision.Allow);
        if (!decision.Allow)
        {
            SandboxServiceLog.Denied(logger, principal.Tenant, decision.DecisionId, decision.Reasons.Count);
            throw new PolicyDeniedException(decision);
        }
        var tier = TierNames.FromPolicy(decision.Isolation);
        if (decision.Network.Mode != NetworkModes.None)
            throw new SandboxException(SandboxErrorCode.Unavailable,
                $"the policy allowed network '{decision.Network.Mode}', which this host's tiers do not offer yet; ask for no network");
        var r = decision.Resources;
        var limits = new Isolation.ResourceLimits
        {
            MemoryMiB = r.MemoryMiB,
            Cpus = request.Resources.Vcpus is > 0 and var wanted ? Math.Min(wanted, r.Vcpus) : r.Vcpus,
            PidsMax = r.Pids,
            DiskMiB = r.DiskMiB,
            WallTime = TimeSpan.FromSeconds(r.TimeoutSeconds),
            OutputBytes = request.Resources.OutputBytes ?? Isolation.ResourceLimits.Default.OutputBytes,
        };
        var spec = new SandboxSpec
        {
            Rootfs = request.Rootfs is null ? RootfsSpec.Host : RootfsSpec.Directory(request.Rootfs),
            Limits = limits,
            Env = request.Env,
            SyscallProfile = decision.SyscallProfile.Name,
            ExtraSyscalls = decision.SyscallProfile.Add,
            WorkDir = request.WorkDir ?? "/work",
        };
        return (decision, tier, spec);
    }

    private PolicyInput BuildInput(Principal principal, SandboxRequest request, string operation)
    {
        var r = request.Resources;
        return new PolicyInput(
            new RequestInfo("req-" + Guid.NewGuid().ToString("N")[..12], time.GetUtcNow(), operation),
            new SubjectInfo(principal.Tenant, principal.Name, Verified: true),
            new WorkloadInfo(request.Image, request.Rootfs, request.CodeProvenance, request.Untrusted),
            new RequestedSpec(
                request.Tier is { } t ? TierNames.ToPolicy(t) : "auto",
                new RequestedResources(r.MemoryMiB, r.Vcpus is { } v ? (int)Math.Ceiling(v) : null, r.Pids, r.DiskMiB, r.TimeoutS),
                new RequestedNetwork(request.Egress.Count > 0 ? NetworkModes.Egress : NetworkModes.None, request.Egress),
                request.Syscalls),
            new EnvironmentInfo(
                drivers.AvailableTiers.Select(TierNames.ToPolicy).Order(StringComparer.Ordinal).ToList(),
                drivers.Accelerator switch { Accelerator.Kvm => "kvm", Accelerator.Tcg => "tcg", _ => "none" }));
    }

    private static SandboxRecord ToRecord(SandboxEntry e) => new()
    {
        Id = e.Id.Value,
        Tenant = e.Tenant,
        Tier = TierNames.ToPolicy(e.Tier),
        CreatedAt = e.CreatedAt,
        ExpiresAt = e.ExpiresAt,
        CgroupPath = e.Info?.CgroupPath,
        HostUid = e.Info?.HostUid ?? -1,
        DecisionId = e.Decision.DecisionId,
        Labels = e.Labels,
        Decision = e.Decision,
        Attachment = e.Sandbox?.Attachment,
    };
}
