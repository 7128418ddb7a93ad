using Microsoft.Extensions.Logging;
using Sandbox.Isolation;
using Sandbox.Policy;

namespace Sandbox.Core;

/// <summary>The verbs of Core: policy → spec → driver → registry, for long-lived sandboxes and one-shot runs. Knows
/// nothing of any face (each maps to and from its wire); throws SandboxException only. The verbs live in the other
/// parts of this partial class, one file per phase: Create, Run, Exec (processes and files), Delete (delete, TTL,
/// shutdown).</summary>
public sealed partial class SandboxService(
    IPolicyEngine policy,
    DriverRegistry drivers,
    SandboxRegistry registry,
    StateStore store,
    TenantQuotas quotas,
    SandboxEvents events,
    ISandboxMetrics metrics,
    SandboxPools pools,
    SandboxCoreOptions options,
    TimeProvider time,
    ILogger<SandboxService> logger)
{
    /// <summary>The decision a create request would get now (a dry run: nothing is created, quotas untouched).</summary>
    public async Task<PolicyDecision> ExplainAsync(Principal principal, SandboxRequest request, CancellationToken cancellationToken) =>
        await policy.DecideAsync(await BuildInputAsync(principal, request, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);

    public SandboxEntry Get(Principal principal, SandboxId id) => registry.Get(principal.Tenant, id);

    public IReadOnlyList<SandboxEntry> List(Principal principal) => registry.ListFor(principal.Tenant);

    /// <summary>Asks the policy and translates an allowed decision (a denied one throws <see cref="PolicyDeniedException"/>).</summary>
    private async Task<(PolicyDecision Decision, ISandboxDriver Driver, SandboxSpec Spec)> DecideAsync(Principal principal, SandboxRequest request,
        CancellationToken cancellationToken)
    {
        var probed = await drivers.ProbedAsync(cancellationToken).ConfigureAwait(false);
        var input = await BuildInputAsync(principal, request, cancellationToken).ConfigureAwait(false);
        var decision = await policy.DecideAsync(input, cancellationToken).ConfigureAwait(false);
        metrics.PolicyDecided(decision.Allow);
        if (!decision.Allow)
        {
            CoreLog.Denied(logger, principal.Tenant, decision.DecisionId, decision.Reasons.Count);
            throw new PolicyDeniedException(decision);
        }
        var image = request.Image is { } name ? ResolveImage(name) : null;
        var (tier, spec) = DecisionTranslator.ToSpec(decision, request, image);
        var driver = probed.Get(tier);
        if (request.NetworkNamespace is { } netns && !driver.Capabilities.HasFlag(DriverCapabilities.OrchestratorNetwork))
            throw new SandboxException(SandboxErrorCode.FailedPrecondition,
                $"joining the orchestrator's network namespace {netns} (CNI pod networking) is not supported on the {TierNames.ToPolicy(tier)} tier, "
                + "where the policy's decision put this sandbox (docs/network.md)");
        if ((request.NetworkOf is not null || request.LoopbackNames.Count > 0) && !driver.Capabilities.HasFlag(DriverCapabilities.SharedNetwork))
            throw new SandboxException(SandboxErrorCode.FailedPrecondition,
                $"the {TierNames.ToPolicy(tier)} tier cannot share a sandbox's network or name its loopback (network_of, loopback_names): the container tier can");
        if (request.NetworkNamespace is null && decision.Network.Mode == Sandbox.Policy.NetworkModes.Netns)
            throw new SandboxException(SandboxErrorCode.Internal,
                $"the policy's decision {decision.DecisionId} joins network namespace {decision.Network.Netns}, which the request did not ask for");
        if (request.NetworkNamespace is not null)
            spec = spec with { NetworkOf = GrantedNetworkNamespace(request, decision) };
        else if (request.NetworkOf is { } of)
            spec = spec with { NetworkOf = await SharedNetworkOfAsync(principal, request, of, tier, cancellationToken).ConfigureAwait(false) };
        return (decision, driver, spec);
    }

    /// <summary>The orchestrator's network namespace the request names, when the decision grants exactly that one
    /// (mode netns, the same path): a policy that says nothing of it, or gives another network, refuses the join —
    /// never a silent fallback to a network of the sandbox's own. Opened and checked by the engine
    /// (<see cref="Isolation.Network.NetworkNamespaceFile"/>: a network namespace's own mount, not the host's).</summary>
    private static Isolation.Network.NetworkNamespaceFile GrantedNetworkNamespace(SandboxRequest request, PolicyDecision decision)
    {
        var path = request.NetworkNamespace!;
        if (request.NetworkOf is not null || request.Egress.Count > 0 || request.Publish.Count > 0 || request.LoopbackNames.Count > 0
            || request.NetworkMode is not (null or Sandbox.Policy.NetworkModes.Netns))
            throw new SandboxException(SandboxErrorCode.InvalidArgument,
                $"a request that joins network namespace {path} asks for no other network (network_of, egress, publish, loopback names, mode)");
        if (decision.Network.Mode != Sandbox.Policy.NetworkModes.Netns || decision.Network.Netns != path)
            throw new SandboxException(SandboxErrorCode.PermissionDenied,
                $"the policy does not grant joining network namespace {path} (decision {decision.DecisionId}: network mode {decision.Network.Mode}"
                + (decision.Network.Netns is { } other ? $" {other}" : "") + ")");
        return Isolation.Network.NetworkNamespaceFile.Open(path);
    }

    /// <summary>The tenant's own running sandbox of the same tier whose network a new one joins — only when the policy
    /// would give the new one that network itself: a sandbox whose decision has egress (or published ports) is joined
    /// only if the same request asking for those entries is granted all of them, so joining never widens what the
    /// policy decides for a request (its trust, provenance, tenant allowlist).</summary>
    private async Task<ISharedNetworkNamespace> SharedNetworkOfAsync(Principal principal, SandboxRequest request, string id, SandboxTier tier,
        CancellationToken cancellationToken)
    {
        var entry = registry.Get(principal.Tenant, SandboxId.Parse(id));
        var joined = entry.Decision.Network;
        if (joined.Netns is { } netns)
        {
            // The joined sandbox is in an orchestrator's namespace: this one's own request for it must be granted too.
            var asked = request with { NetworkOf = null, LoopbackNames = [], NetworkNamespace = netns };
            var own = await policy.DecideAsync(await BuildInputAsync(principal, asked, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
            if (!own.Allow || own.Network.Mode != Sandbox.Policy.NetworkModes.Netns || own.Network.Netns != netns)
                throw new SandboxException(SandboxErrorCode.PermissionDenied,
                    $"joining the network of sandbox {id} would put this sandbox in network namespace {netns}, which the policy does not grant its own request");
        }
        if (joined.Egress.Count > 0 || joined.Publish.Count > 0)
        {
            var asked = request with { NetworkOf = null, LoopbackNames = [], NetworkMode = Sandbox.Policy.NetworkModes.Egress, Egress = joined.Egress, Publish = joined.Publish };
            var own = await policy.DecideAsync(await BuildInputAsync(principal, asked, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
            var missing = joined.Egress.Except(own.Allow ? own.Network.Egress : []).Concat(joined.Publish.Except(own.Allow ? own.Network.Publish : [])).ToList();
            if (missing.Count > 0)
                throw new SandboxException(SandboxErrorCode.PermissionDenied,
                    $"joining the network of sandbox {id} would give this sandbox {string.Join(", ", missing)}, which the policy does not grant its own request");
        }
        var sandbox = entry.Require(SandboxLifecycle.CanExec, "join the network of");
        if (entry.Tier != tier || sandbox is not ISharedNetworkNamespace shared)
            throw new SandboxException(SandboxErrorCode.FailedPrecondition,
                $"sandbox {id} is on the {TierNames.ToPolicy(entry.Tier)} tier: only a sandbox of the same tier that offers it ({TierNames.ToPolicy(tier)}) can share its network");
        return shared;
    }

    /// <summary>An image name → its unpacked root and config, from the store (opened on first use: a host that never
    /// asks for an image never creates one).</summary>
    private Isolation.Images.ResolvedImage ResolveImage(string name)
    {
        if (Path.IsPathFullyQualified(name))
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"image '{name}' is a path; import it first (sandbox image import) and name it NAME:TAG");
        _images ??= new Isolation.Images.ImageStore(options.Images);
        return _images.Resolve(name);
    }

    private Isolation.Images.ImageStore? _images;

    private async Task<PolicyInput> BuildInputAsync(Principal principal, SandboxRequest request, CancellationToken cancellationToken)
    {
        var probed = await drivers.ProbedAsync(cancellationToken).ConfigureAwait(false);
        var info = new RequestInfo("req-" + Guid.NewGuid().ToString("N")[..12], time.GetUtcNow(), "create");
        return PolicyInputBuilder.Build(principal, request, info, probed.AvailableTiers, probed.Accelerator);
    }

    private ValueTask PublishAsync(SandboxEventKind kind, SandboxEntry entry, ExitStatus? status = null, string? detail = null) =>
        PublishAsync(kind, entry.Id, entry.Tenant, entry.Tier, status, detail);

    private ValueTask PublishAsync(SandboxEventKind kind, SandboxId id, string tenant, SandboxTier tier, ExitStatus? status = null, string? detail = null) =>
        events.PublishAsync(new SandboxEvent(kind, id, tenant, tier, time.GetUtcNow(), status, detail));
}
