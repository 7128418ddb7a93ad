namespace Sandbox.CiRunner.Expressions;

/// <summary>An <c>if:</c> value, as GitHub reads it: empty = <c>success()</c>; text without <c>${{</c> is one
/// expression; exactly <c>${{ X }}</c> is X; anything else around a <c>${{ }}</c> is a string (truthy unless empty).
/// A condition that calls no status function is <c>success() &amp;&amp; (cond)</c>.</summary>
public static class Condition
{
    public static Expr Parse(string? text)
    {
        var success = new CallExpr("success", []);
        if (string.IsNullOrWhiteSpace(text))
            return success;
        Expr expr;
        if (!TemplateString.HasExpressions(text))
            expr = ExpressionParser.Parse(text);
        else
        {
            var template = TemplateString.Parse(text);
            expr = template.IsSingle ? template.Expressions[0] : new TemplateExpr(template);
        }
        return ExpressionWalk.CallsStatusFunction(expr) ? expr : new BinaryExpr(BinaryOp.And, success, expr);
    }

    public static bool Evaluate(string? text, EvaluationContext context) =>
        Evaluator.Evaluate(Parse(text), context).IsTruthy;
}
