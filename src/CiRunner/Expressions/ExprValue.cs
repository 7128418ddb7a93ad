using System.Globalization;
using System.Text;

namespace Sandbox.CiRunner.Expressions;

public enum ExprKind { Null, Boolean, Number, String, Array, Object }

/// <summary>A value of the expression language: null, boolean, number (double), string, array or object (keys
/// case-insensitive, insertion order kept). Coercions follow GitHub's runner (EvaluationResult.cs): falsy values,
/// loose equality through numbers, strings compared case-insensitively, arrays and objects equal only to themselves.</summary>
public sealed class ExprValue
{
    public static readonly ExprValue Null = new(ExprKind.Null);
    public static readonly ExprValue True = new(ExprKind.Boolean) { _bool = true };
    public static readonly ExprValue False = new(ExprKind.Boolean);
    public static readonly ExprValue EmptyString = String("");

    private bool _bool;
    private double _number;
    private string _string = "";
    private List<ExprValue>? _array;
    private ExprObject? _object;

    private ExprValue(ExprKind kind) => Kind = kind;

    public ExprKind Kind { get; }

    public static ExprValue Bool(bool b) => b ? True : False;

    public static ExprValue Number(double d) => new(ExprKind.Number) { _number = d };

    public static ExprValue String(string s) => new(ExprKind.String) { _string = s };

    public static ExprValue Array(IEnumerable<ExprValue> items) => new(ExprKind.Array) { _array = [.. items] };

    /// <summary>The result of a <c>.*</c> wildcard: later dereferences apply to each item.</summary>
    internal static ExprValue FilteredArray(IEnumerable<ExprValue> items) => new(ExprKind.Array) { _array = [.. items], IsFiltered = true };

    internal bool IsFiltered { get; private init; }

    public static ExprValue Object(ExprObject obj) => new(ExprKind.Object) { _object = obj };

    public static ExprValue Object(IEnumerable<KeyValuePair<string, ExprValue>> pairs)
    {
        var obj = new ExprObject();
        foreach (var (k, v) in pairs) obj[k] = v;
        return Object(obj);
    }

    /// <summary>A string map as an object of strings (env, outputs, secrets).</summary>
    public static ExprValue StringMap(IEnumerable<KeyValuePair<string, string>> pairs) =>
        Object(pairs.Select(p => KeyValuePair.Create(p.Key, String(p.Value))));

    public bool AsBool => _bool;
    public double AsNumber => _number;
    public string AsString => _string;
    public IReadOnlyList<ExprValue> Items => _array ?? (IReadOnlyList<ExprValue>)[];
    public ExprObject Properties => _object ?? ExprObject.Empty;

    /// <summary>false, 0, -0, NaN, '' and null are falsy; everything else (also 'false' and '0') is truthy.</summary>
    public bool IsTruthy => Kind switch
    {
        ExprKind.Null => false,
        ExprKind.Boolean => _bool,
        ExprKind.Number => _number != 0 && !double.IsNaN(_number),
        ExprKind.String => _string.Length > 0,
        _ => true,
    };

    /// <summary>The string form GitHub interpolates: null → '', booleans 'true'/'false', numbers as decimals;
    /// arrays and objects as 'Array' and 'Object' (GitHub refuses them in a template; we show their kind).</summary>
    public string ToDisplayString() => Kind switch
    {
        ExprKind.Null => "",
        ExprKind.Boolean => _bool ? "true" : "false",
        ExprKind.Number => FormatNumber(_number),
        ExprKind.String => _string,
        ExprKind.Array => "Array",
        _ => "Object",
    };

    public static string FormatNumber(double d)
    {
        if (double.IsNaN(d)) return "NaN";
        if (double.IsPositiveInfinity(d)) return "Infinity";
        if (double.IsNegativeInfinity(d)) return "-Infinity";
        if (d == 0) return "0";
        if (Math.Abs(d) < 1e15 && d == Math.Floor(d)) return d.ToString("0", CultureInfo.InvariantCulture);
        return d.ToString("R", CultureInfo.InvariantCulture);
    }

    /// <summary>The number a value becomes when compared with another type: null→0, bool→1/0, a string parsed as a
    /// JSON number ('' → 0, anything else NaN), arrays and objects NaN.</summary>
    public double ToNumber() => Kind switch
    {
        ExprKind.Null => 0,
        ExprKind.Boolean => _bool ? 1 : 0,
        ExprKind.Number => _number,
        ExprKind.String => ParseNumber(_string),
        _ => double.NaN,
    };

    internal static double ParseNumber(string s)
    {
        var t = s.Trim();
        if (t.Length == 0) return 0;
        if (t.StartsWith("0x", StringComparison.OrdinalIgnoreCase) &&
            long.TryParse(t.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hex))
            return hex;
        if (t.StartsWith("0o", StringComparison.OrdinalIgnoreCase))
        {
            try { return Convert.ToInt64(t[2..], 8); } catch (FormatException) { return double.NaN; } catch (OverflowException) { return double.NaN; }
        }
        return double.TryParse(t, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent,
            CultureInfo.InvariantCulture, out var d) ? d : double.NaN;
    }

    /// <summary>Loose equality: same kinds compare directly (strings case-insensitively, arrays/objects by
    /// identity); mismatched kinds compare as numbers. NaN equals nothing.</summary>
    public static bool LooseEquals(ExprValue a, ExprValue b)
    {
        if (a.Kind == b.Kind)
        {
            return a.Kind switch
            {
                ExprKind.Null => true,
                ExprKind.Boolean => a._bool == b._bool,
                ExprKind.Number => a._number == b._number,
                ExprKind.String => string.Equals(a._string, b._string, StringComparison.OrdinalIgnoreCase),
                _ => ReferenceEquals(a, b),
            };
        }
        var x = a.ToNumber();
        var y = b.ToNumber();
        return !double.IsNaN(x) && !double.IsNaN(y) && x == y;
    }

    /// <summary>Ordering for &lt; &lt;= &gt; &gt;=: strings of both sides case-insensitively, otherwise numbers; null
    /// when not comparable (NaN, arrays, objects), which makes every comparison false.</summary>
    public static int? Compare(ExprValue a, ExprValue b)
    {
        if (a.Kind == ExprKind.String && b.Kind == ExprKind.String)
            return string.Compare(a._string, b._string, StringComparison.OrdinalIgnoreCase);
        if (a.Kind is ExprKind.Array or ExprKind.Object || b.Kind is ExprKind.Array or ExprKind.Object)
            return null;
        var x = a.ToNumber();
        var y = b.ToNumber();
        if (double.IsNaN(x) || double.IsNaN(y)) return null;
        return x.CompareTo(y);
    }

    public override string ToString() => ToDisplayString();

    /// <summary>JSON text, pretty-printed with two spaces as GitHub's toJSON.</summary>
    public string ToJson(bool indented = true)
    {
        var sb = new StringBuilder();
        WriteJson(sb, indented, 0);
        return sb.ToString();
    }

    private void WriteJson(StringBuilder sb, bool indented, int depth)
    {
        switch (Kind)
        {
            case ExprKind.Null: sb.Append("null"); break;
            case ExprKind.Boolean: sb.Append(_bool ? "true" : "false"); break;
            case ExprKind.Number: sb.Append(FormatNumber(_number)); break;
            case ExprKind.String: WriteJsonString(sb, _string); break;
            case ExprKind.Array:
                if (Items.Count == 0) { sb.Append("[]"); break; }
                sb.Append('[');
                for (var i = 0; i < Items.Count; i++)
                {
                    if (i > 0) sb.Append(',');
                    NewLine(sb, indented, depth + 1);
                    Items[i].WriteJson(sb, indented, depth + 1);
                }
                NewLine(sb, indented, depth);
                sb.Append(']');
                break;
            default:
                if (Properties.Count == 0) { sb.Append("{}"); break; }
                sb.Append('{');
                var first = true;
                foreach (var (k, v) in Properties)
                {
                    if (!first) sb.Append(',');
                    first = false;
                    NewLine(sb, indented, depth + 1);
                    WriteJsonString(sb, k);
                    sb.Append(indented ? ": " : ":");
                    v.WriteJson(sb, indented, depth + 1);
                }
                NewLine(sb, indented, depth);
                sb.Append('}');
                break;
        }
    }

    private static void NewLine(StringBuilder sb, bool indented, int depth)
    {
        if (!indented) return;
        sb.Append('\n').Append(' ', depth * 2);
    }

    private static void WriteJsonString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}

/// <summary>An expression object: case-insensitive keys (GitHub's contexts are), insertion order kept.</summary>
public sealed class ExprObject : IEnumerable<KeyValuePair<string, ExprValue>>
{
    public static readonly ExprObject Empty = new();

    private readonly Dictionary<string, ExprValue> _map;
    private readonly List<string> _order = [];

    public ExprObject(bool caseSensitive = false) =>
        _map = new Dictionary<string, ExprValue>(caseSensitive ? StringComparer.Ordinal : StringComparer.OrdinalIgnoreCase);

    public int Count => _map.Count;

    public IEnumerable<string> Keys => _order;

    public ExprValue? this[string key]
    {
        get => _map.TryGetValue(key, out var v) ? v : null;
        set
        {
            if (value is null)
            {
                if (_map.Remove(key)) _order.RemoveAll(k => _map.Comparer.Equals(k, key));
                return;
            }
            if (!_map.ContainsKey(key)) _order.Add(key);
            _map[key] = value;
        }
    }

    public bool ContainsKey(string key) => _map.ContainsKey(key);

    public IEnumerator<KeyValuePair<string, ExprValue>> GetEnumerator() =>
        _order.Select(k => KeyValuePair.Create(k, _map[k])).GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
