using System.Text;

namespace Sandbox.CiRunner.Expressions;

/// <summary>A value with <c>${{ expr }}</c> parts: literal text and expressions. A value that is exactly one
/// expression (whitespace around it aside) evaluates to that expression's value (so <c>${{ fromJSON(x) }}</c> gives an
/// object); otherwise the parts are joined as strings.</summary>
public sealed class TemplateString
{
    private readonly List<(string? Text, Expr? Expr)> _parts;

    private TemplateString(List<(string?, Expr?)> parts) => _parts = parts;

    public IReadOnlyList<Expr> Expressions => _parts.Where(p => p.Expr is not null).Select(p => p.Expr!).ToList();

    public bool IsSingle => _parts.Count(p => p.Expr is not null) == 1 && _parts.All(p => p.Expr is not null || string.IsNullOrWhiteSpace(p.Text));

    public static bool HasExpressions(string text) => text.Contains("${{", StringComparison.Ordinal);

    public static bool IsSingleExpression(string text)
    {
        try
        {
            return HasExpressions(text) && Parse(text).IsSingle;
        }
        catch (ExpressionException)
        {
            return false;
        }
    }

    public static TemplateString Parse(string text)
    {
        var parts = new List<(string?, Expr?)>();
        var i = 0;
        while (i < text.Length)
        {
            var open = text.IndexOf("${{", i, StringComparison.Ordinal);
            if (open < 0)
            {
                parts.Add((text[i..], null));
                break;
            }
            if (open > i) parts.Add((text[i..open], null));
            var close = FindClose(text, open + 3);
            if (close < 0)
                throw new ExpressionException($"'${{{{' at position {open + 1} has no closing '}}}}' in '{text}'");
            parts.Add((null, ExpressionParser.Parse(text[(open + 3)..close])));
            i = close + 2;
        }
        return new TemplateString(parts);
    }

    /// <summary>The '}}' that ends an expression, skipping quoted strings.</summary>
    private static int FindClose(string text, int from)
    {
        var quoted = false;
        for (var i = from; i < text.Length; i++)
        {
            if (text[i] == '\'') quoted = !quoted; // '' inside a string toggles twice: still inside
            else if (!quoted && text[i] == '}' && i + 1 < text.Length && text[i + 1] == '}') return i;
        }
        return -1;
    }

    public ExprValue Evaluate(EvaluationContext context)
    {
        if (IsSingle)
            return Evaluator.Evaluate(Expressions[0], context);
        var sb = new StringBuilder();
        foreach (var (text, expr) in _parts)
            sb.Append(text ?? Evaluator.Evaluate(expr!, context).ToDisplayString());
        return ExprValue.String(sb.ToString());
    }

    /// <summary>Evaluates a value as written in the workflow: text without <c>${{</c> is returned as is.</summary>
    public static ExprValue Evaluate(string text, EvaluationContext context) =>
        HasExpressions(text) ? Parse(text).Evaluate(context) : ExprValue.String(text);

    public static string EvaluateString(string text, EvaluationContext context) => Evaluate(text, context).ToDisplayString();
}
