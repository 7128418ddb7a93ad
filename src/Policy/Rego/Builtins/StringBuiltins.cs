using System.Globalization;
using System.Text;

namespace Sandbox.Policy.Rego;

/// <summary>String builtins: concat, contains, startswith, endswith, lower, upper, split, trim*, replace, indexof, substring, sprintf.</summary>
internal static class StringBuiltins
{
    public static void Register(BuiltinTable t)
    {
        t.Register("concat", 2, (a, _) =>
        {
            var sep = BuiltinTable.Str(a, 0, "concat");
            var parts = BuiltinTable.Elems(a, 1, "concat").Select(v => v is StringValue s ? s.V : throw new BuiltinException($"concat: operand 2 must be a collection of strings but contains {Value.TypeName(v)}"));
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
