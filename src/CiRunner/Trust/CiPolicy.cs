using System.Text;
using System.Text.Json.Nodes;
using Sandbox.Isolation;
using Sandbox.Policy.Rego;

namespace Sandbox.CiRunner.Trust;

/// <summary>Evaluates <c>data.ci.decision</c> (policies/ci) with the embedded Rego evaluator. Fails closed: an error,
/// an undefined result or a malformed decision gives <see cref="CiTrustDecision.Strictest"/> with the reason.</summary>
public sealed class CiPolicy
{
    public const string Query = "data.ci.decision";

    private readonly CompiledPolicy _policy;

    private CiPolicy(CompiledPolicy policy) => _policy = policy;

    /// <summary>The default bundle (embedded), or the bundle at <paramref name="bundlePath"/>; <paramref name="mirrors"/>
    /// are added to <c>data.ci.config.mirrors</c> (the operator's package mirrors).</summary>
    public static CiPolicy Load(string? bundlePath = null, IEnumerable<string>? mirrors = null)
    {
        var bundle = bundlePath is null ? LoadEmbedded() : RegoBundle.Load(bundlePath);
        var extra = mirrors?.ToList() ?? [];
        if (extra.Count > 0)
        {
            var data = bundle.Data as JsonObject ?? new JsonObject();
            if (data["ci"] is not JsonObject ci)
                data["ci"] = ci = new JsonObject();
            if (ci["config"] is not JsonObject config)
                ci["config"] = config = new JsonObject();
            var list = config["mirrors"] as JsonArray ?? [];
            config["mirrors"] = new JsonArray([.. list.Select(n => n?.DeepClone()), .. extra.Select(m => (JsonNode)JsonValue.Create(m))]);
            bundle = RegoBundle.FromFiles(bundle.Modules.Select(m => (m.Name, m.Text)), data.ToJsonString());
        }
        return new CiPolicy(bundle.Compile());
    }

    private static RegoBundle LoadEmbedded()
    {
        var asm = typeof(CiPolicy).Assembly;
        var files = new List<(string, string)>();
        foreach (var res in asm.GetManifestResourceNames().Order(StringComparer.Ordinal))
        {
            const string prefix = "policies/ci/";
            if (!res.StartsWith(prefix, StringComparison.Ordinal)) continue;
            using var s = asm.GetManifestResourceStream(res)!;
            using var r = new StreamReader(s, Encoding.UTF8);
            files.Add((res[prefix.Length..], r.ReadToEnd()));
        }
        return RegoBundle.FromFiles(files);
    }

    public CiTrustDecision Decide(CiTrustInput input)
    {
        var result = _policy.Evaluate(Query, input.ToJson(), new EvalOptions { MaxSteps = 200_000, Timeout = TimeSpan.FromSeconds(1), StrictBuiltinErrors = true });
        if (result.Kind == RegoResultKind.Error)
            return CiTrustDecision.Strictest($"the CI policy failed ({result.Error}): the strictest sandbox");
        if (result.Value is not JsonObject d)
            return CiTrustDecision.Strictest($"the CI policy gave no decision for {Query}: the strictest sandbox");
        try
        {
            var trust = (string)d["trust"]!;
            var tier = (string)d["isolation"]! switch
            {
                "container" => SandboxTier.Container,
                "microvm" => SandboxTier.MicroVm,
                var other => throw new FormatException($"isolation '{other}' is not container or microvm"),
            };
            var secrets = (bool)d["secrets"]!;
            var egress = d["egress"]!.AsArray().Select(e => (string)e!).ToList();
            var reasons = d["reasons"]!.AsArray().Select(e => (string)e!).ToList();
            // A decision that trusts less than its tier says is taken at its strictest word.
            if (trust != "trusted" && tier == SandboxTier.Container)
                return CiTrustDecision.Strictest($"the CI policy put a '{trust}' job in a container: refused, the strictest sandbox");
            return new CiTrustDecision(trust, tier, secrets, egress, reasons);
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException or NullReferenceException or ArgumentException)
        {
            return CiTrustDecision.Strictest($"the CI policy's decision is malformed ({e.Message}): the strictest sandbox");
        }
    }
}
