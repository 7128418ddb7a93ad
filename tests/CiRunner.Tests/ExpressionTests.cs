using Sandbox.CiRunner.Expressions;

namespace Sandbox.CiRunner.Tests;

public sealed class ExpressionTests
{
    private static EvaluationContext Context(StatusFunctions? status = null)
    {
        var env = new ExprObject(caseSensitive: true);
        env["NAME"] = ExprValue.String("world");
        var c = new EvaluationContext { Status = status, HashFiles = new Dictionary<string, string> { ["**/*.lock"] = "abc" } };
        c.With("env", ExprValue.Object(env));
        c.With("github", ExprValue.Object([
            KeyValuePair.Create("event_name", ExprValue.String("push")),
            KeyValuePair.Create("ref", ExprValue.String("refs/heads/main")),
            KeyValuePair.Create("event", ExprValue.Object([KeyValuePair.Create("commits", ExprValue.Array([
                ExprValue.Object([KeyValuePair.Create("id", ExprValue.String("c1"))]),
                ExprValue.Object([KeyValuePair.Create("id", ExprValue.String("c2"))]),
            ]))])),
        ]));
        c.With("matrix", ExprValue.Object([KeyValuePair.Create("os", ExprValue.String("Linux")), KeyValuePair.Create("n", ExprValue.Number(3))]));
        c.With("steps", ExprValue.Object([KeyValuePair.Create("s", ExprValue.Object([
            KeyValuePair.Create("outputs", ExprValue.StringMap([KeyValuePair.Create("flag", "false")])),
            KeyValuePair.Create("outcome", ExprValue.String("failure")),
        ]))]));
        return c;
    }

    private static ExprValue Eval(string expr, EvaluationContext? c = null) => Evaluator.Evaluate(ExpressionParser.Parse(expr), c ?? Context());

    private static string Str(string expr) => Eval(expr).ToDisplayString();

    [Theory]
    [InlineData("'true' == true", false)]
    [InlineData("null == ''", true)]
    [InlineData("null == 0", true)]
    [InlineData("'' == 0", true)]
    [InlineData("'1' == 1", true)]
    [InlineData("true == 1", true)]
    [InlineData("'abc' == 'ABC'", true)]
    [InlineData("'abc' != 'ABC'", false)]
    [InlineData("NaN == NaN", false)]
    [InlineData("'x' == 0", false)]
    [InlineData("1 < 2", true)]
    [InlineData("'a' < 'B'", true)]
    [InlineData("'a' < 1", false)]
    [InlineData("0xff == 255", true)]
    [InlineData("-2.99e-2 < 0", true)]
    [InlineData("matrix.n >= 3", true)]
    [InlineData("matrix.OS == 'linux'", true)]
    [InlineData("github.event_name == 'push' && startsWith(github.ref, 'refs/heads/')", true)]
    [InlineData("!(github.event_name == 'push')", false)]
    [InlineData("steps.s.outputs.flag", true)] // the string 'false' is truthy
    [InlineData("!steps.nosuch.outputs.flag", true)]
    public void Operators_follow_GitHub(string expr, bool expected) => Assert.Equal(expected, Eval(expr).IsTruthy);

    [Fact]
    public void And_and_or_return_an_operand()
    {
        Assert.Equal("yes", Str("github.event_name == 'push' && 'yes' || 'no'"));
        Assert.Equal("no", Str("github.event_name == 'pr' && 'yes' || 'no'"));
        Assert.Equal("", Str("'' && 'x'"));
        Assert.Equal(0, Eval("0 || 0").AsNumber);
    }

    [Fact]
    public void Missing_properties_are_null_never_errors()
    {
        Assert.Equal(ExprKind.Null, Eval("github.nope.deeper").Kind);
        Assert.Equal(ExprKind.Null, Eval("github.ref.length").Kind);
        Assert.Equal(ExprKind.Null, Eval("github['event']['commits'][5]").Kind);
        Assert.Equal("c2", Str("github['event'].commits[1].id"));
        Assert.Equal("c1,c2", Str("join(github.event.commits.*.id)"));
    }

    [Fact]
    public void Env_keys_are_case_sensitive_other_contexts_are_not()
    {
        Assert.Equal("world", Str("env.NAME"));
        Assert.Equal("", Str("env.name"));
        Assert.Equal("push", Str("GITHUB.EVENT_NAME"));
    }

    [Fact]
    public void Functions_behave_as_documented()
    {
        Assert.True(Eval("contains('Hello world', 'WORLD')").IsTruthy);
        Assert.True(Eval("contains(fromJSON('[\"a\", 1]'), '1')").IsTruthy);
        Assert.False(Eval("contains(fromJSON('[\"a\"]'), 'b')").IsTruthy);
        Assert.True(Eval("endsWith('file.TXT', '.txt')").IsTruthy);
        Assert.Equal("{x} a-1 {y}", Str("format('{{x}} {0}-{1} {{y}}', 'a', 1)"));
        Assert.Equal("a|b", Str("join(fromJSON('[\"a\",\"b\"]'), '|')"));
        Assert.Equal("{\n  \"os\": \"Linux\",\n  \"n\": 3\n}", Str("toJSON(matrix)"));
        Assert.Equal(3, Eval("fromJSON('{\"a\": {\"b\": 3}}').a.b").AsNumber);
        Assert.Equal("abc", Str("hashFiles('**/*.lock')"));
        Assert.Equal("true", Str("true"));
        Assert.Equal("1.5", Str("1.5"));
        Assert.Equal("it's", Str("'it''s'"));
    }

    [Fact]
    public void Function_errors_name_the_problem()
    {
        Assert.Contains("uses argument {2} but only 1", Assert.Throws<ExpressionException>(() => Eval("format('{2}', 1)")).Message);
        Assert.Contains("not JSON", Assert.Throws<ExpressionException>(() => Eval("fromJSON('{bad')")).Message);
        Assert.Contains("takes 2 arguments, not 1", Assert.Throws<ExpressionException>(() => Eval("contains('a')")).Message);
        Assert.Contains("only in a job's or a step's 'if'", Assert.Throws<ExpressionException>(() => Eval("success()")).Message);
        Assert.Contains("unrecognized named-value 'nosuch'", Assert.Throws<ExpressionException>(() => Eval("nosuch.x")).Message);
        var noHash = new EvaluationContext();
        Assert.Contains("only in steps", Assert.Throws<ExpressionException>(() => Evaluator.Evaluate(ExpressionParser.Parse("hashFiles('x')"), noHash)).Message);
    }

    [Fact]
    public void Templates_interpolate_strings_and_keep_a_single_expressions_value()
    {
        var c = Context();
        Assert.Equal("hello world, 3!", TemplateString.EvaluateString("hello ${{ env.NAME }}, ${{ matrix.n }}!", c));
        Assert.Equal(ExprKind.Object, TemplateString.Evaluate("  ${{ fromJSON('{}') }} ", c).Kind);
        Assert.Equal("a }} b", TemplateString.EvaluateString("${{ 'a }} b' }}", c));
        Assert.Equal("no template", TemplateString.EvaluateString("no template", c));
    }

    [Theory]
    [InlineData(null, true, false, true)]
    [InlineData("", false, true, false)]
    [InlineData("github.event_name == 'push'", true, false, true)]
    [InlineData("github.event_name == 'push'", false, true, false)] // implicit success() &&
    [InlineData("${{ github.event_name == 'pr' }}", true, false, false)]
    [InlineData("${{ github.event_name }} == 'pr'", true, false, true)] // a string: truthy
    [InlineData("true && ${{ false }}", true, false, true)]
    [InlineData("failure()", false, true, true)]
    [InlineData("always()", false, true, true)]
    [InlineData("failure() && steps.s.outcome == 'failure'", false, true, true)]
    [InlineData("cancelled()", false, true, false)]
    public void Conditions_follow_GitHub(string? condition, bool success, bool failure, bool expected) =>
        Assert.Equal(expected, Condition.Evaluate(condition, Context(new StatusFunctions(success, failure, false))));
}
