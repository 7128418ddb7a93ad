using System.Text;

namespace Sandbox.Policy.Rego;

/// <summary>
/// strings.render_template: a subset of Go's text/template, with OPA's missing-key-is-an-error option. Supported:
/// text, <c>{{.}}</c>, <c>{{.a.b}}</c>, <c>{{$}}</c>, <c>{{$x.a}}</c>, literals, <c>{{$x := …}}</c>,
/// <c>{{if …}}…{{else}}…{{end}}</c>, <c>{{range [$i, ]$v := …}}…[{{else}}…]{{end}}</c> and <c>{{range …}}</c>,
/// comments, and the <c>{{-</c> / <c>-}}</c> trim markers. Functions, pipes, <c>with</c>, <c>define</c>,
/// <c>template</c>, <c>block</c>, <c>else if</c>, <c>break</c>, <c>continue</c> are a builtin error naming them.
/// Values print as Go's <c>%v</c> of OPA's JSON conversion (numbers as their JSON text, <c>map[k:v]</c>, <c>[a b]</c>).
/// </summary>
internal static class TemplateBuiltin
{
    private const string Fn = "strings.render_template";
    private const int MaxOutput = 1 << 20;

    private abstract record Node;
    private sealed record Text(string S) : Node;
    private sealed record Print(string[] Decl, string Operand) : Node;
    private sealed record If(string Operand, List<Node> Then, List<Node> Else) : Node;
    private sealed record Range(string[] Vars, string Operand, List<Node> Body, List<Node> Else) : Node;

    public static void Register(BuiltinTable t) => t.Register(Fn, 2, (a, _) =>
    {
        var nodes = Parse(BuiltinTable.Str(a, 0, Fn));
        var vars = BuiltinTable.Obj(a, 1, Fn);
        var sb = new StringBuilder();
        Exec(nodes, vars, new Dictionary<string, Value> { ["$"] = vars }, sb);
        return Value.String(sb.ToString());
    });

    // ---- parsing ------------------------------------------------------------------------------

    private static List<Node> Parse(string src)
    {
        var items = Lex(src);
        var pos = 0;
        var root = Block(items, ref pos, out var end);
        if (end is not null) throw Unsupported($"unexpected {{{{{end}}}}}");
        return root;
    }

    /// <summary>Text pieces (kind false) and action bodies (kind true), trim markers applied.</summary>
    private static List<(bool Action, string S)> Lex(string src)
    {
        var items = new List<(bool, string)>();
        var i = 0;
        while (i < src.Length)
        {
            var open = src.IndexOf("{{", i, StringComparison.Ordinal);
            if (open < 0) { items.Add((false, src[i..])); break; }
            var text = src[i..open];
            var close = src.IndexOf("}}", open + 2, StringComparison.Ordinal);
            if (close < 0) throw new BuiltinException($"{Fn}: unclosed action");
            var body = src[(open + 2)..close];
            if (body.StartsWith("- ", StringComparison.Ordinal)) { text = text.TrimEnd(); body = body[2..]; }
            var trimRight = body.EndsWith(" -", StringComparison.Ordinal);
            if (trimRight) body = body[..^2];
            items.Add((false, text));
            items.Add((true, body.Trim()));
            i = close + 2;
            if (trimRight) while (i < src.Length && char.IsWhiteSpace(src[i])) i++;
        }
        return items;
    }

    private static List<Node> Block(List<(bool Action, string S)> items, ref int pos, out string? end)
    {
        var nodes = new List<Node>();
        while (pos < items.Count)
        {
            var (action, s) = items[pos++];
            if (!action) { if (s.Length > 0) nodes.Add(new Text(s)); continue; }
            if (s.StartsWith("/*", StringComparison.Ordinal) && s.EndsWith("*/", StringComparison.Ordinal)) continue;
            var word = s.Split(' ', 2)[0];
            var rest = s.Length > word.Length ? s[(word.Length + 1)..].Trim() : "";
            switch (word)
            {
                case "end":
                case "else" when rest.Length == 0:
                    end = word;
                    return nodes;
                case "else":
                    throw Unsupported("else " + rest.Split(' ')[0]);
                case "if":
                    {
                        var then = Block(items, ref pos, out var e);
                        var els = e == "else" ? Block(items, ref pos, out e) : [];
                        if (e != "end") throw new BuiltinException($"{Fn}: if without end");
                        nodes.Add(new If(Operand(rest), then, els));
                        break;
                    }
                case "range":
                    {
                        var (vars, operand) = Declaration(rest);
                        if (vars.Length > 2) throw new BuiltinException($"{Fn}: too many range variables");
                        var body = Block(items, ref pos, out var e);
                        var els = e == "else" ? Block(items, ref pos, out e) : [];
                        if (e != "end") throw new BuiltinException($"{Fn}: range without end");
                        nodes.Add(new Range(vars, operand, body, els));
                        break;
                    }
                case "with" or "define" or "template" or "block" or "break" or "continue" or "nil":
                    throw Unsupported(word);
                default:
                    {
                        var (decl, operand) = Declaration(s);
                        if (decl.Length > 1) throw Unsupported("a declaration of several variables");
                        nodes.Add(new Print(decl, operand));
                        break;
                    }
            }
        }
        end = null;
        return nodes;
    }

    private static (string[] Vars, string Operand) Declaration(string s)
    {
        var at = s.IndexOf(":=", StringComparison.Ordinal);
        if (at < 0) return ([], Operand(s));
        var vars = s[..at].Split(',', StringSplitOptions.TrimEntries);
        if (vars.Any(v => v.Length < 2 || v[0] != '$')) throw new BuiltinException($"{Fn}: bad variable declaration {s}");
        return (vars, Operand(s[(at + 2)..].Trim()));
    }

    /// <summary>One operand: no function calls, pipes or parenthesised expressions.</summary>
    private static string Operand(string s)
    {
        if (s.Length == 0) throw new BuiltinException($"{Fn}: missing value");
        if (s.Contains('|')) throw Unsupported("pipelines (|)");
        if (s[0] == '"' && s[^1] == '"' && s.Length >= 2 && !s[1..^1].Contains('"')) return s;
        if (s.Contains(' ') || s.Contains('(')) throw Unsupported($"function calls ({s.Split(' ')[0]})");
        if (s[0] is '.' or '$' || s is "true" or "false" || double.TryParse(s, System.Globalization.CultureInfo.InvariantCulture, out _)) return s;
        throw Unsupported($"function {s}");
    }

    private static BuiltinException Unsupported(string what) =>
        new($"{Fn}: {what} is not supported (the embedded evaluator implements a subset of Go's text/template)");

    // ---- execution ----------------------------------------------------------------------------

    private static void Exec(List<Node> nodes, Value dot, Dictionary<string, Value> vars, StringBuilder sb)
    {
        foreach (var n in nodes)
        {
            if (sb.Length > MaxOutput) throw new BuiltinException($"{Fn}: output beyond {MaxOutput} characters");
            switch (n)
            {
                case Text t:
                    sb.Append(t.S);
                    break;
                case Print p when p.Decl.Length == 1:
                    vars[p.Decl[0]] = Eval(p.Operand, dot, vars);
                    break;
                case Print p:
                    Format(Eval(p.Operand, dot, vars), sb);
                    break;
                case If i:
                    Exec(Truth(Eval(i.Operand, dot, vars), vars.ContainsKey(IndexMark + i.Operand)) ? i.Then : i.Else, dot, vars, sb);
                    break;
                case Range r:
                    {
                        var pairs = Eval(r.Operand, dot, vars) switch
                        {
                            ArrayValue a => a.Items.Select((v, i) => ((Value)Value.Number(i), v)).ToList(),
                            ObjectValue o => o.SortedKeys.Select(k => (k, o.Get(k)!)).ToList(),
                            SetValue set => set.Sorted.Select((v, i) => ((Value)Value.Number(i), v)).ToList(),
                            var v => throw new BuiltinException($"{Fn}: range can't iterate over {v}"),
                        };
                        if (pairs.Count == 0) Exec(r.Else, dot, vars, sb);
                        foreach (var (k, v) in pairs)
                        {
                            var scope = new Dictionary<string, Value>(vars);
                            if (r.Vars.Length == 1) scope[r.Vars[0]] = v;
                            if (r.Vars.Length == 2) { scope[r.Vars[0]] = k; scope[IndexMark + r.Vars[0]] = Value.True; scope[r.Vars[1]] = v; }
                            Exec(r.Body, v, scope, sb);
                        }
                        break;
                    }
            }
        }
    }

    private static Value Eval(string operand, Value dot, Dictionary<string, Value> vars)
    {
        if (operand[0] == '"') return Value.String(operand[1..^1]);
        if (operand is "true" or "false") return Value.Bool(operand == "true");
        if (operand[0] is not ('.' or '$')) return NumberValue.Parse(operand) ?? throw new BuiltinException($"{Fn}: bad number {operand}");
        Value cur;
        string[] fields;
        if (operand[0] == '$')
        {
            var dotAt = operand.IndexOf('.');
            var name = dotAt < 0 ? operand : operand[..dotAt];
            cur = vars.TryGetValue(name, out var v) ? v : throw new BuiltinException($"{Fn}: undefined variable {name}");
            fields = dotAt < 0 ? [] : operand[(dotAt + 1)..].Split('.');
        }
        else
        {
            cur = dot;
            fields = operand == "." ? [] : operand[1..].Split('.');
        }
        foreach (var f in fields)
        {
            if (cur is not ObjectValue o) throw new BuiltinException($"{Fn}: can't evaluate field {f} in type {Value.TypeName(cur)}");
            cur = o.Get(f) ?? throw new BuiltinException($"{Fn}: map has no entry for key \"{f}\"");
        }
        return cur;
    }

    /// <summary>Marks a variable holding a range index: a Go int, where numbers from the variables are json.Number text.</summary>
    private const string IndexMark = "#index ";

    /// <summary>Go's truth: false, nil, 0 (an index), and empty strings, arrays and maps are false; a number from the
    /// variables arrives as json.Number text, never empty, so it is true even when 0 (as in OPA).</summary>
    private static bool Truth(Value v, bool index) => v switch
    {
        NumberValue n when index => n.V != 0,
        BoolValue b => b.Equals(Value.True),
        NullValue => false,
        StringValue s => s.V.Length > 0,
        ArrayValue a => a.Items.Length > 0,
        ObjectValue o => o.Map.Count > 0,
        SetValue s => s.Sorted.Any(),
        _ => true,
    };

    private static void Format(Value v, StringBuilder sb, bool nested = false)
    {
        switch (v)
        {
            case StringValue s: sb.Append(s.V); break;
            case NullValue: sb.Append(nested ? "<nil>" : "<no value>"); break;
            case ArrayValue a: List(a.Items, sb); break;
            case SetValue s: List(s.Sorted, sb); break;
            case ObjectValue o:
                sb.Append("map[");
                var first = true;
                foreach (var k in o.SortedKeys)
                {
                    if (!first) sb.Append(' ');
                    first = false;
                    Format(k, sb, true);
                    sb.Append(':');
                    Format(o.Get(k)!, sb, true);
                }
                sb.Append(']');
                break;
            default: sb.Append(v.ToJson()); break;
        }

        static void List(IEnumerable<Value> items, StringBuilder sb)
        {
            sb.Append('[');
            var first = true;
            foreach (var i in items)
            {
                if (!first) sb.Append(' ');
                first = false;
                Format(i, sb, true);
            }
            sb.Append(']');
        }
    }
}
