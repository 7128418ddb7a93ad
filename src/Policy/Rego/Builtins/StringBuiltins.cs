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
        t.Register("indexof", 2, (a, _) => Value.Number(BuiltinTable.Str(a, 0, "indexof").IndexOf(BuiltinTable.Str(a, 1, "indexof"), StringComparison.Ordinal)));
        t.Register("substring", 3, (a, _) =>
        {
            var s = BuiltinTable.Str(a, 0, "substring");
            var start = BuiltinTable.Int(a, 1, "substring");
            var len = BuiltinTable.Int(a, 2, "substring");
            if (start < 0) throw new BuiltinException("substring: negative offset");
            if (start >= s.Length) return Value.String("");
            var end = len < 0 ? s.Length : (int)Math.Min(s.Length, start + len);
            return Value.String(s[(int)start..end]);
        });
        t.Register("sprintf", 2, (a, _) => Value.String(Sprintf(BuiltinTable.Str(a, 0, "sprintf"), BuiltinTable.Arr(a, 1, "sprintf").Items)));
    }

    /// <summary>Go's fmt subset: %v %s %d %f %.Nf %q %t %x %%.</summary>
    internal static string Sprintf(string format, Value[] args)
    {
        var sb = new StringBuilder();
        var argi = 0;
        for (var i = 0; i < format.Length; i++)
        {
            var c = format[i];
            if (c != '%')
            {
                sb.Append(c);
                continue;
            }
            if (++i >= format.Length)
            {
                sb.Append("%!(NOVERB)");
                break;
            }
            if (format[i] == '%')
            {
                sb.Append('%');
                continue;
            }
            int? precision = null;
            if (format[i] == '.')
            {
                var p = 0;
                while (++i < format.Length && char.IsAsciiDigit(format[i])) p = (p * 10) + (format[i] - '0');
                precision = p;
                if (i >= format.Length) break;
            }
            var verb = format[i];
            if (argi >= args.Length)
            {
                sb.Append("%!").Append(verb).Append("(MISSING)");
                continue;
            }
            var v = args[argi++];
            switch (verb)
            {
                case 'v':
                case 's':
                    sb.Append(v is StringValue s ? s.V : FormatValue(v));
                    break;
                case 'd':
                    sb.Append(v is NumberValue n && n.IsInteger ? NumberValue.Format(n.V) : "%!d(" + FormatValue(v) + ")");
                    break;
                case 'f':
                    sb.Append(v is NumberValue nf ? nf.V.ToString("F" + (precision ?? 6), CultureInfo.InvariantCulture) : "%!f(" + FormatValue(v) + ")");
                    break;
                case 'q':
                    if (v is StringValue qs) Value.WriteJsonString(sb, qs.V);
                    else sb.Append(FormatValue(v));
                    break;
                case 't':
                    sb.Append(v is BoolValue b ? (b.V ? "true" : "false") : "%!t(" + FormatValue(v) + ")");
                    break;
                case 'x':
                    sb.Append(v switch
                    {
                        NumberValue nx when nx.TryGetInt(out var l) => l.ToString("x", CultureInfo.InvariantCulture),
                        StringValue sx => Convert.ToHexStringLower(Encoding.UTF8.GetBytes(sx.V)),
                        _ => "%!x(" + FormatValue(v) + ")",
                    });
                    break;
                default:
                    sb.Append("%!").Append(verb).Append('(').Append(FormatValue(v)).Append(')');
                    break;
            }
        }
        if (argi < args.Length) sb.Append("%!(EXTRA ").Append(string.Join(", ", args.Skip(argi).Select(FormatValue))).Append(')');
        return sb.ToString();
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
