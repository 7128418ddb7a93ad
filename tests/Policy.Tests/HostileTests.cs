using System.Text;
using System.Text.Json.Nodes;
using CsCheck;
using Sandbox.Policy.Rego;

namespace Sandbox.Policy.Tests;

/// <summary>Hostile policies and inputs end in clean errors; random inputs never crash or exceed the budget.</summary>
public class HostileTests
{
    [Fact]
    public void DeeplyNestedPolicy_IsAParseError()
    {
        var deep = new string('[', 5000) + new string(']', 5000);
        var e = Assert.Throws<RegoCompileException>(() => RegoBundle.FromFiles([("d.rego", $"package t\np := {deep}\n")]).Compile());
        Assert.Equal(RegoErrorCodes.ParseError, e.Errors[0].Code);
        Assert.Equal(new RegoLocation("d.rego", 2, 1), e.Errors[0].Location! with { Col = 1 });
    }

    [Fact]
    public void DeeplyNestedInput_IsACleanError()
    {
        var deep = new string('[', 10_000) + new string(']', 10_000);
        var r = TestBundles.Default.EvaluateJson("data.sandbox.decision", deep);
        Assert.Equal(RegoResultKind.Error, r.Kind);
        Assert.Equal(RegoErrorCodes.InvalidParameter, r.Error!.Code);
    }

    [Fact]
    public void HugeSet_ExceedsTheBudget()
    {
        var p = RegoBundle.FromFiles([("h.rego", "package t\ns contains [a, b, c] if { some a in input.xs; some b in input.xs; some c in input.xs }\n")]).Compile();
        var xs = "{\"xs\": [" + string.Join(",", Enumerable.Range(0, 200)) + "]}";
        var r = p.EvaluateJson("data.t.s", xs, new EvalOptions { MaxSteps = 100_000 });
        Assert.Equal(RegoErrorCodes.BudgetExceeded, r.Error?.Code);
    }

    [Fact]
    public void Timeout_StopsEvaluation()
    {
        var p = RegoBundle.FromFiles([("h.rego", "package t\nn := count([1 | some a in input.xs; some b in input.xs; some c in input.xs])\n")]).Compile();
        var xs = "{\"xs\": [" + string.Join(",", Enumerable.Range(0, 300)) + "]}";
        var r = p.EvaluateJson("data.t.n", xs, new EvalOptions { MaxSteps = long.MaxValue, Timeout = TimeSpan.FromMilliseconds(50) });
        Assert.Equal(RegoErrorCodes.CancelError, r.Error?.Code);
    }

    [Fact]
    public void TestSleep_EndsAtTheTimeout()
    {
        // An hour's sleep in a policy ends once the evaluation's timeout has passed: the next step is the timeout error.
        var p = RegoBundle.FromFiles([("s.rego", "package t\np := x if { test.sleep(\"1h\"); x := 1 + 1 }\n")]).Compile();
        var r = p.EvaluateJson("data.t.p", null, new EvalOptions { Timeout = TimeSpan.FromMilliseconds(50) });
        Assert.Equal(RegoErrorCodes.CancelError, r.Error?.Code);
    }

    [Theory]
    [InlineData("package t\np if q\nq if r\nr if p\n")]
    [InlineData("package t\ns contains x if { some x in s }\n")]
    [InlineData("package t\nf(x) := y if y := g(x)\ng(x) := y if y := f(x)\n")]
    [InlineData("package t\np := data.t\n")]
    public void Recursion_IsRejectedAtCompile(string rego)
    {
        var e = Assert.Throws<RegoCompileException>(() => RegoBundle.FromFiles([("r.rego", rego)]).Compile());
        Assert.Equal(RegoErrorCodes.RecursionError, e.Errors[0].Code);
    }

    [Fact]
    public void TenMegabyteInput_EvaluatesOrFailsCleanly()
    {
        var sb = new StringBuilder("{\"subject\":{\"tenant\":\"acme\",\"verified\":true},\"blob\":[");
        for (var i = 0; sb.Length < 10_000_000; i++) sb.Append(i == 0 ? "" : ",").Append("\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"");
        sb.Append("]}");
        var r = TestBundles.Default.EvaluateJson("data.sandbox.decision", sb.ToString());
        Assert.Equal(RegoResultKind.Defined, r.Kind);
        Assert.Contains("\"allow\":false", r.ValueJson, StringComparison.Ordinal);
        var strict = RegoBundle.FromFiles([("b.rego", "package t\nn := count([x | some x in input.blob])\n")]).Compile();
        Assert.Equal(RegoErrorCodes.BudgetExceeded, strict.EvaluateJson("data.t.n", sb.ToString(), new EvalOptions { MaxSteps = 10_000 }).Error?.Code);
    }

    [Fact]
    public void MalformedInput_IsInvalidParameter()
    {
        var r = TestBundles.Default.EvaluateJson("data.sandbox.decision", "{\"a\": ");
        Assert.Equal(RegoErrorCodes.InvalidParameter, r.Error?.Code);
    }

    private static Gen<T> Pick<T>(params T[] items) => Gen.Int[0, items.Length - 1].Select(i => items[i]);

    private static readonly Gen<JsonNode?> GenScalar = Gen.OneOf<JsonNode?>(
        Gen.Int[-5, 100_000].Select(i => (JsonNode?)JsonValue.Create(i)),
        Gen.String[Gen.Char.AlphaNumeric, 0, 12].Select(s => (JsonNode?)JsonValue.Create(s)),
        Pick<JsonNode?>(JsonValue.Create(true), JsonValue.Create(false), null,
            JsonValue.Create("acme"), JsonValue.Create("public"), JsonValue.Create("microvm"), JsonValue.Create("container"),
            JsonValue.Create("egress"), JsonValue.Create("tcg"), JsonValue.Create("kvm"), JsonValue.Create("tenant"), JsonValue.Create("pypi.org")));

    private static Gen<JsonNode?> GenNode(int depth) => depth == 0 ? GenScalar : Gen.Frequency(
        (4, GenScalar),
        (1, GenNode(depth - 1).Array[0, 4].Select(a => (JsonNode?)new JsonArray(a.Select(n => n?.DeepClone()).ToArray()))),
        (2, Gen.Select(Pick("tenant", "verified", "untrusted", "code_provenance", "isolation", "memory_mib", "vcpus", "mode", "egress", "syscalls", "tiers", "accel", "x"), GenNode(depth - 1))
            .Array[0, 5].Select(kvs =>
            {
                var o = new JsonObject();
                foreach (var (k, v) in kvs) o[k] = v?.DeepClone();
                return (JsonNode?)o;
            })));

    private static readonly Gen<JsonNode> GenInput =
        Gen.Select(GenNode(2), GenNode(2), GenNode(2), GenNode(3), GenNode(2)).Select(t => (JsonNode)new JsonObject
        {
            ["request"] = t.Item1?.DeepClone(), ["subject"] = t.Item2?.DeepClone(), ["workload"] = t.Item3?.DeepClone(),
            ["requested"] = t.Item4?.DeepClone(), ["environment"] = t.Item5?.DeepClone(),
        });

    [Fact]
    public void RandomInputs_NeverCrash_NeverExceedBudget()
    {
        var engine = new EmbeddedPolicyEngine(TestBundles.Default, new HostCeilings(), Microsoft.Extensions.Logging.Abstractions.NullLogger<EmbeddedPolicyEngine>.Instance);
        GenInput.Sample(input =>
        {
            var r = TestBundles.Default.Evaluate("data.sandbox.decision", input, new EvalOptions { MaxSteps = 50_000, StrictBuiltinErrors = true });
            Assert.NotEqual(RegoErrorCodes.BudgetExceeded, r.Error?.Code);
            Assert.NotEqual(RegoErrorCodes.DepthExceeded, r.Error?.Code);
            Assert.NotEqual(RegoErrorCodes.InternalError, r.Error?.Code);
            var d = engine.DecideJson(input);
            Assert.True(!d.Allow || d.Isolation is "container" or "microvm");
        }, iter: 400);
    }

    [Fact]
    public void RandomSources_NeverCrashTheCompiler()
    {
        var tokens = new[] { "p", "q", "x", ":=", "=", "==", "if", "{", "}", "[", "]", "(", ")", "some", "in", "not", "every", "contains", "1", "\"s\"", "input.a", ",", ";", "\n", "|", "+", "count(", "default", "else", "_", "with", "as" };
        Gen.Int[0, tokens.Length - 1].Array[0, 30].Sample(idx =>
        {
            var src = "package t\n" + string.Join(' ', idx.Select(i => tokens[i]));
            try
            {
                var p = RegoBundle.FromFiles([("f.rego", src)]).Compile();
                var r = p.Evaluate("data.t", new JsonObject(), new EvalOptions { MaxSteps = 10_000 });
                Assert.NotEqual(RegoErrorCodes.InternalError, r.Error?.Code);
            }
            catch (RegoCompileException e)
            {
                Assert.NotEmpty(e.Errors);
            }
        }, iter: 2000);
    }
}
