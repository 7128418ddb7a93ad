using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Sandbox.Policy.Rego;

namespace Sandbox.Policy;

/// <summary>Evaluates <c>data.sandbox.decision</c> in-process with the embedded Rego evaluator.</summary>
public sealed class EmbeddedPolicyEngine : IPolicyEngine
{
    public const string DefaultQuery = "data.sandbox.decision";

    private readonly CompiledPolicy _policy;
    private readonly HostCeilings _ceilings;
    private readonly ILogger _logger;
    private readonly IReadOnlySet<string> _knownProfiles;
    private readonly EvalOptions _options;
    private readonly string _query;

    /// <param name="knownProfiles">Syscall profile names a decision may use; default {"default", "strict"}.</param>
    /// <param name="options">Evaluation limits; default 200,000 steps, 250 ms, strict builtin errors.</param>
    public EmbeddedPolicyEngine(CompiledPolicy policy, HostCeilings ceilings, ILogger<EmbeddedPolicyEngine> logger,
        IReadOnlySet<string>? knownProfiles = null, EvalOptions? options = null, string query = DefaultQuery)
    {
        _policy = policy;
        _ceilings = ceilings;
        _logger = logger;
        _knownProfiles = knownProfiles ?? DecisionMapper.DefaultProfiles;
        _options = options ?? new EvalOptions { MaxSteps = 200_000, Timeout = TimeSpan.FromMilliseconds(250), StrictBuiltinErrors = true };
        _query = query;
    }

    /// <summary>An engine over the default bundle embedded in this assembly.</summary>
    public static EmbeddedPolicyEngine CreateDefault(HostCeilings ceilings, ILogger<EmbeddedPolicyEngine> logger, IReadOnlySet<string>? knownProfiles = null) =>
        new(RegoBundle.LoadDefault().Compile(), ceilings, logger, knownProfiles);

    public Task<PolicyDecision> DecideAsync(PolicyInput input, CancellationToken ct) =>
        Task.FromResult(Decide(input.ToValue(), input.Environment.Accel, ct));

    /// <summary>Decides for an arbitrary input document (used by <c>sandbox policy explain</c>).</summary>
    public PolicyDecision DecideJson(JsonNode? input, CancellationToken ct = default)
    {
        Value? v;
        try
        {
            v = input is null ? null : ValueJson.FromNode(input);
        }
        catch (RegoException e)
        {
            var id = NewId();
            PolicyLog.FailedClosed(_logger, id, e.Code);
            return DecisionMapper.Deny(id, _policy.Revision, $"invalid input: {e.Message}");
        }
        var accel = (v as ObjectValue)?.Get("environment") is ObjectValue env && env.Get("accel") is StringValue a ? a.V : null;
        return Decide(v, accel, ct);
    }

    internal PolicyDecision Decide(Value? input, string? accel, CancellationToken ct)
    {
        var id = NewId();
        var options = ct.CanBeCanceled ? new EvalOptions
        {
            MaxSteps = _options.MaxSteps,
            MaxDepth = _options.MaxDepth,
            Timeout = _options.Timeout,
            StrictBuiltinErrors = _options.StrictBuiltinErrors,
            TimeProvider = _options.TimeProvider,
            CancellationToken = ct,
        } : _options;
        var result = _policy.Evaluate(_query, input, options);
        if (result.Kind == RegoResultKind.Error) PolicyLog.FailedClosed(_logger, id, result.Error!.Code);
        var decision = DecisionMapper.FromResult(result, _query, new DecisionContext(id, _policy.Revision, _ceilings, _knownProfiles, accel));
        PolicyLog.Decision(_logger, id, _policy.Revision, "embedded", decision.Allow, decision.Isolation, decision.Reasons);
        return decision;
    }

    internal static string NewId() => Guid.NewGuid().ToString("D");
}
