using System.Globalization;
using System.Text;

namespace Sandbox.Policy.Rego;

/// <summary>String builtins: concat, contains, startswith, endswith, lower, upper, split, trim*, replace, indexof, substring, sprintf, format_int, strings.*.</summary>
internal static class StringBuiltins
{
    public static void Register(BuiltinTable t)
    {
        t.Register("concat", 2, (a, _) =>
        {
            var sep = BuiltinTable.Str(a, 0, "concat");
            var parts = BuiltinTable.Elems(a, 1, "concat").Select(v => v is StringValue s ? s.V : throw new BuiltinTypeException($"concat: operand 2 must be a collection of strings but contains {Value.TypeName(v)}"));
            return Value.String(string.Join(sep, parts));
        });
        t.Register("contains", 2, (a, _) => Value.Bool(BuiltinTable.Str(a, 0, "contains").Contains(BuiltinTable.Str(a, 1, "contains"), StringComparison.Ordinal)));
        t.Register("startswith", 2, (a, _) => Value.Bool(BuiltinTable.Str(a, 0, "startswith").StartsWith(BuiltinTable.Str(a, 1, "startswith"), StringComparison.Ordinal)));
        t.Register("endswith", 2, (a, _) => Value.Bool(BuiltinTable.Str(a, 0, "endswith").EndsWith(BuiltinTable.Str(a, 1, "endswith"), StringComparison.Ordinal)));
        t.Register("lower", 1, (a, _) => Value.String(BuiltinTable.Str(a, 0, "lower").ToLowerInvariant()));
        t.Register("upper", 1, (a, _) => Value.String(BuiltinTable.Str(a, 0, "upper").ToUpperInvariant()));
        t.Register("split", 2, (a, _) =>
        {
            var s = BuiltinTable.Str(a, 0, "split");
            var d = BuiltinTable.Str(a, 1, "split");
            var parts = d.Length == 0 ? s.EnumerateRunes().Select(r => r.ToString()).ToArray() : s.Split(d);
            return new ArrayValue(parts.Select(p => (Value)Value.String(p)).ToArray());
        });
        t.Register("trim", 2, (a, _) => Value.String(BuiltinTable.Str(a, 0, "trim").Trim(BuiltinTable.Str(a, 1, "trim").ToCharArray())));
        t.Register("trim_left", 2, (a, _) => Value.String(BuiltinTable.Str(a, 0, "trim_left").TrimStart(BuiltinTable.Str(a, 1, "trim_left").ToCharArray())));
        t.Register("trim_right", 2, (a, _) => Value.String(BuiltinTable.Str(a, 0, "trim_right").TrimEnd(BuiltinTable.Str(a, 1, "trim_right").ToCharArray())));
        t.Register("trim_space", 1, (a, _) => Value.String(BuiltinTable.Str(a, 0, "trim_space").Trim()));
        t.Register("trim_prefix", 2, (a, _) =>
        {
            var s = BuiltinTable.Str(a, 0, "trim_prefix");
            var p = BuiltinTable.Str(a, 1, "trim_prefix");
            return Value.String(s.StartsWith(p, StringComparison.Ordinal) ? s[p.Length..] : s);
        });
        t.Register("trim_suffix", 2, (a, _) =>
        {
            var s = BuiltinTable.Str(a, 0, "trim_suffix");
            var p = BuiltinTable.Str(a, 1, "trim_suffix");
            return Value.String(s.EndsWith(p, StringComparison.Ordinal) ? s[..^p.Length] : s);
        });
        t.Register("replace", 3, (a, _) =>
        {
            var s = BuiltinTable.Str(a, 0, "replace");
            var old = BuiltinTable.Str(a, 1, "replace");
            var rep = BuiltinTable.Str(a, 2, "replace");
            return Value.String(old.Length == 0 ? s : s.Replace(old, rep, StringComparison.Ordinal));
        });
        // Positions count Unicode code points (runes), as OPA's do, not UTF-16 units.
        t.Register("indexof", 2, (a, _) =>
        {
            var s = BuiltinTable.Str(a, 0, "indexof");
            var i = s.IndexOf(BuiltinTable.Str(a, 1, "indexof"), StringComparison.Ordinal);
            return Value.Number(i < 0 ? -1 : s.AsSpan(0, i).ToString().EnumerateRunes().Count());
        });
        t.Register("indexof_n", 2, (a, _) =>
        {
            var s = BuiltinTable.Str(a, 0, "indexof_n");
            var needle = BuiltinTable.Str(a, 1, "indexof_n");
            if (needle.Length == 0) throw new BuiltinException("indexof_n: empty search character");
            // Every occurrence, overlapping ones included, as code-point positions (like indexof).
            var found = new List<Value>();
            for (var i = s.IndexOf(needle, StringComparison.Ordinal); i >= 0; i = s.IndexOf(needle, i + 1, StringComparison.Ordinal))
                found.Add(Value.Number(s.AsSpan(0, i).ToString().EnumerateRunes().Count()));
            return new ArrayValue(found.ToArray());
        });
        t.Register("substring", 3, (a, _) =>
        {
            var s = BuiltinTable.Str(a, 0, "substring");
            var start = BuiltinTable.Int(a, 1, "substring");
            var len = BuiltinTable.Int(a, 2, "substring");
            if (start < 0) throw new BuiltinException("substring: negative offset");
            var runes = s.EnumerateRunes().ToArray();
            if (start >= runes.Length) return Value.String("");
            var end = len < 0 ? runes.Length : (int)Math.Min(runes.Length, start + len);
            return Value.String(string.Concat(runes[(int)start..end].Select(r => r.ToString())));
        });
        t.Register("sprintf", 2, (a, _) => Value.String(GoFormat.Sprintf(BuiltinTable.Str(a, 0, "sprintf"), BuiltinTable.Arr(a, 1, "sprintf").Items)));
        t.Register("format_int", 2, (a, _) =>
        {
            var n = (long)Math.Truncate(BuiltinTable.Num(a, 0, "format_int"));
            var radix = BuiltinTable.Int(a, 1, "format_int");
            if (radix is not (2 or 8 or 10 or 16)) throw new BuiltinTypeException("format_int: operand 2 must be one of {2, 8, 10, 16}");
            var digits = radix == 10 ? Math.Abs((decimal)n).ToString(CultureInfo.InvariantCulture) : Convert.ToString(Math.Abs(n), (int)radix);
            return Value.String((n < 0 ? "-" : "") + digits);
        });
        t.Register("strings.replace_n", 2, (a, _) =>
        {
            var patterns = BuiltinTable.Obj(a, 0, "strings.replace_n");
            var s = BuiltinTable.Str(a, 1, "strings.replace_n");
            // Go's strings.NewReplacer: at each position the first matching old string (in sorted key order) wins.
            var pairs = patterns.SortedKeys.Select(k => (Old: k is StringValue ks ? ks.V : throw new BuiltinTypeException("strings.replace_n: operand 1 keys must be strings"),
                New: patterns.Map[k] is StringValue vs ? vs.V : throw new BuiltinTypeException("strings.replace_n: operand 1 values must be strings"))).ToArray();
            var sb = new StringBuilder();
            for (var i = 0; i < s.Length;)
            {
                var hit = Array.FindIndex(pairs, p => p.Old.Length > 0 && string.CompareOrdinal(s, i, p.Old, 0, p.Old.Length) == 0);
                if (hit < 0)
                {
                    sb.Append(s[i++]);
                    continue;
                }
                sb.Append(pairs[hit].New);
                i += pairs[hit].Old.Length;
            }
            return Value.String(sb.ToString());
        });
        t.Register("strings.reverse", 1, (a, _) => Value.String(string.Concat(BuiltinTable.Str(a, 0, "strings.reverse").EnumerateRunes().Reverse().Select(r => r.ToString()))));
        t.Register("strings.count", 2, (a, _) =>
        {
            var s = BuiltinTable.Str(a, 0, "strings.count");
            var sub = BuiltinTable.Str(a, 1, "strings.count");
            if (sub.Length == 0) return Value.Number(s.EnumerateRunes().Count() + 1);
            var n = 0;
            for (var i = s.IndexOf(sub, StringComparison.Ordinal); i >= 0; i = s.IndexOf(sub, i + sub.Length, StringComparison.Ordinal)) n++;
            return Value.Number(n);
        });
        t.Register("strings.any_prefix_match", 2, (a, _) => AnyMatch(a, "strings.any_prefix_match", (s, p) => s.StartsWith(p, StringComparison.Ordinal)));
        t.Register("strings.any_suffix_match", 2, (a, _) => AnyMatch(a, "strings.any_suffix_match", (s, p) => s.EndsWith(p, StringComparison.Ordinal)));
    }

    /// <summary>Operands are a string or a collection of strings each; true when any pair matches.</summary>
    private static Value AnyMatch(Value[] a, string fn, Func<string, string, bool> match)
    {
        // OPA's messages: "operand 1 must be one of {string, set, array} but got number", "... must be array of strings but got array containing number".
        IEnumerable<string> Strings(int i) => a[i] switch
        {
            StringValue s => [s.V],
            ArrayValue or SetValue => BuiltinTable.Elems(a, i, fn).Select(v => v is StringValue vs ? vs.V
                : throw new BuiltinTypeException($"{fn}: operand {i + 1} must be {Value.TypeName(a[i])} of strings but got {Value.TypeName(a[i])} containing {Value.TypeName(v)}")).ToList(),
            _ => throw new BuiltinTypeException($"{fn}: operand {i + 1} must be one of {{string, set, array}} but got {Value.TypeName(a[i])}"),
        };
        var strings = Strings(0).ToArray();
        var prefixes = Strings(1).ToArray();
        return Value.Bool(strings.Any(s => prefixes.Any(p => match(s, p))));
    }

    /// <summary>A value as Rego prints it in sprintf (sets as {..}).</summary>
    internal static string FormatValue(Value v) => v switch
    {
        SetValue s => s.Count == 0 ? "set()" : "{" + string.Join(", ", s.Sorted.Select(FormatValue)) + "}",
        ArrayValue a => "[" + string.Join(", ", a.Items.Select(FormatValue)) + "]",
        ObjectValue o => "{" + string.Join(", ", o.SortedKeys.Select(k => FormatValue(k) + ": " + FormatValue(o.Map[k]))) + "}",
        _ => v.ToJson(),
    };
}
