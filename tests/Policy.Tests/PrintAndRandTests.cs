using Sandbox.Policy.Rego;

namespace Sandbox.Policy.Tests;

/// <summary>print (OPA's print hook) and rand.intn (random, but one value per (string, n) within an evaluation).</summary>
public class PrintAndRandTests
{
    private static CompiledPolicy Compile(string module, bool allowRandom = false) =>
        RegoBundle.FromFiles([("m.rego", module)]).Compile(new RegoCompileOptions { AllowRandom = allowRandom });

    [Fact]
    public void Print_SendsOneLinePerCombination_UndefinedAsMarker_ResultUnchanged()
    {
        var policy = Compile("""
            package t
            xs := [1, 2]
            p if {
              print("user", input.user, {"b", 1}, [x | x := 1])
              print("missing:", input.missing)
              print(xs[_], "of", count(xs))
            }
            """);
        var lines = new List<string>();
        var r = policy.EvaluateJson("data.t.p", """{"user": {"name": "ann"}}""", new EvalOptions { PrintHook = lines.Add });
        Assert.Equal("true", r.ValueJson);
        Assert.Equal(["user {\"name\": \"ann\"} {1, \"b\"} [1]", "missing: <undefined>", "1 of 2", "2 of 2"], lines);
    }

    [Fact]
    public void Print_WithoutHook_GivesTheSameResult()
    {
        var policy = Compile("package t\np := x if { x := 1; print(x, input.nope) }");
        Assert.Equal("1", policy.EvaluateJson("data.t.p", "{}").ValueJson);
    }

    [Fact]
    public void Print_OfAnUnboundVariable_IsUnsafe()
    {
        var e = Assert.Throws<RegoCompileException>(() => Compile("package t\np if print(y)"));
        Assert.Contains(e.Errors, err => err.Code == "rego_unsafe_var_error" && err.Message.Contains("var y", StringComparison.Ordinal));
        Assert.DoesNotContain(e.Errors, err => err.Message.Contains('$', StringComparison.Ordinal)); // no compiler-made names
    }

    [Fact]
    public void RandIntn_IsTheSameForTheSameArgumentsWithinAnEvaluation_AndInRange()
    {
        var policy = Compile("""
            package t
            draws := {rand.intn("k", 1000000) | numbers.range(1, 50)[_]}
            p := {"one": count(draws) == 1, "in_range": [d | some d in draws; d >= 0; d < 1000000] == [d | some d in draws],
                  "zero": rand.intn("z", 0), "negative": rand.intn("n", -3) < 3}
            """, allowRandom: true);
        Assert.Equal("""{"in_range":true,"negative":true,"one":true,"zero":0}""", policy.EvaluateJson("data.t.p", null).ValueJson);
    }

    [Fact]
    public void RandIntn_DrawsAgainInANewEvaluation()
    {
        var policy = Compile("package t\np := rand.intn(\"k\", 1099511627776)", allowRandom: true);
        // Five draws from 2^40 values: all equal only if the generator is not random (chance ~2^-160).
        var values = Enumerable.Range(0, 5).Select(_ => policy.EvaluateJson("data.t.p", null).ValueJson).ToHashSet();
        Assert.True(values.Count > 1, $"rand.intn gave {string.Join(", ", values)} in five evaluations");
    }

    [Fact]
    public void RandIntn_WithAFraction_IsABuiltinError()
    {
        var policy = Compile("package t\np := rand.intn(\"k\", 1.5)", allowRandom: true);
        var r = policy.EvaluateJson("data.t.p", null, new EvalOptions { StrictBuiltinErrors = true });
        Assert.Equal(RegoResultKind.Error, r.Kind);
        Assert.Equal("eval_builtin_error", r.Error!.Code);
    }
}
