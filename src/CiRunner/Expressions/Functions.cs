using System.Text;
using System.Text.Json;

namespace Sandbox.CiRunner.Expressions;

/// <summary>The built-in functions, registered in one table with their arity (names are case-insensitive, as on
/// GitHub). Status functions need <see cref="EvaluationContext.Status"/> (an <c>if</c>); hashFiles needs
/// <see cref="EvaluationContext.HashFiles"/> (a step).</summary>
public static class Functions
{
    private sealed record Builtin(int Min, int Max, Func<IReadOnlyList<ExprValue>, EvaluationContext, ExprValue> Invoke);

    private static readonly Dictionary<string, Builtin> Table = new(StringComparer.OrdinalIgnoreCase)
    {
        ["contains"] = new(2, 2, (a, _) => ExprValue.Bool(Contains(a[0], a[1]))),
        ["startsWith"] = new(2, 2, (a, _) => ExprValue.Bool(IsPrimitive(a[0]) && IsPrimitive(a[1]) &&
            a[0].ToDisplayString().StartsWith(a[1].ToDisplayString(), StringComparison.OrdinalIgnoreCase))),
        ["endsWith"] = new(2, 2, (a, _) => ExprValue.Bool(IsPrimitive(a[0]) && IsPrimitive(a[1]) &&
            a[0].ToDisplayString().EndsWith(a[1].ToDisplayString(), StringComparison.OrdinalIgnoreCase))),
        ["format"] = new(1, int.MaxValue, (a, _) => ExprValue.String(Format(a[0].ToDisplayString(), a.Skip(1).ToList()))),
        ["join"] = new(1, 2, (a, _) => ExprValue.String(Join(a[0], a.Count > 1 ? a[1].ToDisplayString() : ","))),
        ["toJSON"] = new(1, 1, (a, _) => ExprValue.String(a[0].ToJson())),
        ["fromJSON"] = new(1, 1, (a, _) => FromJson(a[0].ToDisplayString())),
        ["hashFiles"] = new(1, int.MaxValue, (a, c) => HashFiles(a, c)),
        ["success"] = new(0, 0, (_, c) => ExprValue.Bool(Status(c, "success").Success)),
        ["failure"] = new(0, 0, (_, c) => ExprValue.Bool(Status(c, "failure").Failure)),
        ["cancelled"] = new(0, 0, (_, c) => ExprValue.Bool(Status(c, "cancelled").Cancelled)),
        ["always"] = new(0, 0, (_, c) => { Status(c, "always"); return ExprValue.True; }),
    };

    public static readonly IReadOnlySet<string> StatusFunctionNames =
        new HashSet<string>(["success", "failure", "cancelled", "always"], StringComparer.OrdinalIgnoreCase);

    internal static void CheckArity(string name, int count, string text)
    {
        if (!Table.TryGetValue(name, out var f))
            throw new ExpressionException($"unknown function '{name}' in '{text}': available are {string.Join(", ", Table.Keys)}");
        if (count < f.Min || count > f.Max)
            throw new ExpressionException($"function '{name}' takes {(f.Min == f.Max ? f.Min.ToString() : f.Max == int.MaxValue ? $"at least {f.Min}" : $"{f.Min} to {f.Max}")} arguments, not {count}, in '{text}'");
    }

    internal static ExprValue Call(CallExpr call, EvaluationContext context)
    {
        var f = Table[call.Name];
        return f.Invoke(call.Args.Select(a => Evaluator.Evaluate(a, context)).ToList(), context);
    }

    private static StatusFunctions Status(EvaluationContext c, string name) =>
        c.Status ?? throw new ExpressionException($"{name}() is available only in a job's or a step's 'if'");

    private static bool IsPrimitive(ExprValue v) => v.Kind is not (ExprKind.Array or ExprKind.Object);

    private static bool Contains(ExprValue search, ExprValue item)
    {
        if (search.Kind == ExprKind.Array)
            return search.Items.Any(i => ExprValue.LooseEquals(i, item));
        return IsPrimitive(search) && IsPrimitive(item) &&
            search.ToDisplayString().Contains(item.ToDisplayString(), StringComparison.OrdinalIgnoreCase);
    }

    private static string Join(ExprValue value, string separator) => value.Kind switch
    {
        ExprKind.Array => string.Join(separator, value.Items.Select(i => IsPrimitive(i) ? i.ToDisplayString() : "")),
        ExprKind.Object => "",
        _ => value.ToDisplayString(),
    };

    /// <summary>format('{0} and {1}', a, b); '{{' and '}}' are literal braces.</summary>
    internal static string Format(string format, IReadOnlyList<ExprValue> args)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < format.Length; i++)
        {
            var c = format[i];
            if (c == '{' && i + 1 < format.Length && format[i + 1] == '{') { sb.Append('{'); i++; continue; }
            if (c == '}' && i + 1 < format.Length && format[i + 1] == '}') { sb.Append('}'); i++; continue; }
            if (c == '{')
            {
                var close = format.IndexOf('}', i);
                if (close < 0 || !int.TryParse(format.AsSpan(i + 1, close - i - 1), out var n) || n < 0)
                    throw new ExpressionException($"format string '{format}' has an invalid placeholder at position {i + 1}: use {{N}} with N an argument index, {{{{ and }}}} for braces");
                if (n >= args.Count)
                    throw new ExpressionException($"format string '{format}' uses argument {{{n}}} but only {args.Count} were given");
                sb.Append(args[n].ToDisplayString());
                i = close;
                continue;
            }
            if (c == '}')
                throw new ExpressionException($"format string '{format}' has an unmatched '}}' at position {i + 1}: write }}}} for a brace");
            sb.Append(c);
        }
        return sb.ToString();
    }

    internal static ExprValue FromJson(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 64 });
            return FromElement(doc.RootElement);
        }
        catch (JsonException e)
        {
            throw new ExpressionException($"fromJSON: the text is not JSON ({e.Message}): '{Truncate(json)}'");
        }
    }

    private static ExprValue FromElement(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => ExprValue.Object(e.EnumerateObject().Select(p => KeyValuePair.Create(p.Name, FromElement(p.Value)))),
        JsonValueKind.Array => ExprValue.Array(e.EnumerateArray().Select(FromElement)),
        JsonValueKind.String => ExprValue.String(e.GetString()!),
        JsonValueKind.Number => ExprValue.Number(e.GetDouble()),
        JsonValueKind.True => ExprValue.True,
        JsonValueKind.False => ExprValue.False,
        _ => ExprValue.Null,
    };

    private static ExprValue HashFiles(IReadOnlyList<ExprValue> args, EvaluationContext c)
    {
        if (c.HashFiles is null)
            throw new ExpressionException("hashFiles() is available only in steps (it hashes files of the job's workspace)");
        var key = EvaluationContext.HashFilesKey(args.Select(a => a.ToDisplayString()));
        return c.HashFiles.TryGetValue(key, out var hash)
            ? ExprValue.String(hash)
            : throw new ExpressionException($"hashFiles({string.Join(", ", args.Select(a => $"'{a}'"))}) was not computed for this step");
    }

    private static string Truncate(string s) => s.Length <= 80 ? s : s[..80] + "...";
}
