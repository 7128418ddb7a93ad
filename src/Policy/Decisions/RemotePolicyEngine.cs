using Microsoft.Extensions.Logging;
using Sandbox.Policy.Opa;
using Sandbox.Policy.Rego;

namespace Sandbox.Policy;

/// <summary>Asks a remote OPA (<c>POST /v1/data/sandbox/decision</c>); the same validation and clamping as the embedded engine.</summary>
public sealed class RemotePolicyEngine : IPolicyEngine
{
    private readonly OpaClient _client;
    private readonly HostCeilings _ceilings;
    private readonly ILogger _logger;
    private readonly IReadOnlySet<string> _knownProfiles;
    private readonly string _path;

    public RemotePolicyEngine(OpaClient client, HostCeilings ceilings, ILogger<RemotePolicyEngine> logger,
        IReadOnlySet<string>? knownProfiles = null, string path = "sandbox/decision")
    {
        _client = client;
        _ceilings = ceilings;
        _logger = logger;
        _knownProfiles = knownProfiles ?? DecisionMapper.DefaultProfiles;
        _path = path;
    }

    public async Task<PolicyDecision> DecideAsync(PolicyInput input, CancellationToken ct)
    {
        var fallbackId = EmbeddedPolicyEngine.NewId();
        PolicyDecision decision;
        try
        {
            var result = await _client.EvaluateWithDetailsAsync<System.Text.Json.Nodes.JsonNode>(_path, input.ToJson(), cancellationToken: ct).ConfigureAwait(false);
            var id = result.DecisionId ?? fallbackId;
            var ctx = new DecisionContext(id, result.Revision, _ceilings, _knownProfiles, input.Environment.Accel);
            decision = !result.Defined
                ? DecisionMapper.Deny(id, result.Revision, $"policy decision data.{_path.Replace('/', '.')} is undefined")
                : DecisionMapper.FromValue(ValueJson.FromNode(result.Result), ctx);
        }
        catch (OpaException e)
        {
            PolicyLog.FailedClosed(_logger, e.Error.DecisionId ?? fallbackId, e.Error.Code);
            decision = DecisionMapper.Deny(e.Error.DecisionId ?? fallbackId, null, $"policy evaluation failed: {e.Error.Code}: {e.Error.Message}");
        }
        catch (RegoException e)
        {
            PolicyLog.FailedClosed(_logger, fallbackId, e.Code);
            decision = DecisionMapper.Deny(fallbackId, null, $"policy decision is invalid: {e.Message}");
        }
        PolicyLog.Decision(_logger, decision.DecisionId, decision.BundleRevision, "remote", decision.Allow, decision.Isolation, decision.Reasons);
        return decision;
    }
}
