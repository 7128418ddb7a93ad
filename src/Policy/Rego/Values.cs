using System.Globalization;
using System.Numerics;
using System.Text;

namespace Sandbox.Policy.Rego;

/// <summary>Kinds in OPA's total order: null &lt; boolean &lt; number &lt; string &lt; array &lt; object &lt; set.</summary>
internal enum ValueKind { Null = 0, Boolean = 1, Number = 2, String = 3, Array = 4, Object = 5, Set = 6 }

/// <summary>An immutable Rego value. Equality and ordering are structural and follow OPA.</summary>
internal abstract class Value : IEquatable<Value>, IComparable<Value>
{
    public abstract ValueKind Kind { get; }

    public static readonly Value Null = new NullValue();
    public static readonly BoolValue True = new(true);
    public static readonly BoolValue False = new(false);
    public static readonly ArrayValue EmptyArray = new([]);
    public static readonly SetValue EmptySet = new([]);
    public static readonly ObjectValue EmptyObject = new(new Dictionary<Value, Value>());

    public static BoolValue Bool(bool b) => b ? True : False;
    public static NumberValue Number(double d) => new(d);
    public static StringValue String(string s) => new(s);

    public bool Equals(Value? other)
    {
        if (other is null) return false;
        if (ReferenceEquals(this, other)) return true;
        // Fast path for the common case (object keys, string comparisons): ordinal equality is CompareOrdinal == 0.
        if (this is StringValue a && other is StringValue b) return string.Equals(a.V, b.V, StringComparison.Ordinal);
        return CompareTo(other) == 0;
    }
    public override bool Equals(object? obj) => obj is Value v && Equals(v);
    public abstract override int GetHashCode();

    public int CompareTo(Value? other)
    {
        if (other is null) return 1;
        if (ReferenceEquals(this, other)) return 0;
        var k = ((int)Kind).CompareTo((int)other.Kind);
        return k != 0 ? k : CompareSameKind(other);
    }

    protected abstract int CompareSameKind(Value other);

    /// <summary>OPA's JSON form: sorted object keys, sets as sorted arrays.</summary>
    public string ToJson()
    {
        var sb = new StringBuilder();
        WriteJson(sb);
        return sb.ToString();
    }

    public abstract void WriteJson(StringBuilder sb);

    public override string ToString() => ToJson();

    public static string TypeName(Value v) => v.Kind switch
    {
        ValueKind.Null => "null",
        ValueKind.Boolean => "boolean",
        ValueKind.Number => "number",
        ValueKind.String => "string",
        ValueKind.Array => "array",
        ValueKind.Object => "object",
        _ => "set",
    };

    internal static void WriteJsonString(StringBuilder sb, string s)
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
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}

internal sealed class NullValue : Value
{
    public override ValueKind Kind => ValueKind.Null;
    protected override int CompareSameKind(Value other) => 0;
    public override int GetHashCode() => 17;
    public override void WriteJson(StringBuilder sb) => sb.Append("null");
}

internal sealed class BoolValue(bool value) : Value
{
    public bool V { get; } = value;
    public override ValueKind Kind => ValueKind.Boolean;
    protected override int CompareSameKind(Value other) => V.CompareTo(((BoolValue)other).V);
    public override int GetHashCode() => V ? 1231 : 1237;
    public override void WriteJson(StringBuilder sb) => sb.Append(V ? "true" : "false");
}

/// <summary>
/// A number: an IEEE double (the fast path), or, for an integer a double cannot hold exactly (beyond 2^53, or beyond a
/// double's range, such as <c>2e308</c>), a <see cref="BigInteger"/> (OPA's numbers are arbitrary precision). An
/// integer within 2^53 is always a double, so each value has one form and equality stays a comparison of doubles on
/// the fast path. The big form lives in a side object so a double costs one reference, not a nullable BigInteger.
/// </summary>
internal sealed class NumberValue : Value
{
    /// <summary>2^53: integers up to this magnitude are exact as doubles.</summary>
    public const double MaxExactDouble = 9007199254740992d;

    /// <summary>The most decimal digits a number literal beyond a double's range may expand to (1e10000).</summary>
    public const int MaxBigDigits = 10_000;

    private readonly BigForm? _big;

    public NumberValue(double value) => V = value;

    private NumberValue(BigInteger big, string? literal)
    {
        _big = new BigForm(big, literal);
        V = (double)big;
    }

    /// <summary>An integer kept exact, with the literal it was written as when that was not plain digits.</summary>
    private sealed record BigForm(BigInteger Value, string? Literal);

    /// <summary>The value as a double (rounded, or infinite past a double's range, when <see cref="Big"/> is set).</summary>
    public double V { get; }
    /// <summary>The exact value of an integer beyond 2^53; null otherwise.</summary>
    public BigInteger? Big => _big?.Value;

    /// <summary>
    /// The literal of an integer beyond 2^53 written with an exponent or a fraction (<c>1e308</c>, <c>2e308</c>): OPA
    /// keeps such a number as the text it was written as (a Go <c>json.Number</c>), prints it back as written, and
    /// formats it as a float in <c>sprintf</c> (a <c>big.Float</c> past a double's range). Null for other numbers.
    /// </summary>
    public string? FloatLiteral => _big?.Literal;

    public static NumberValue Of(BigInteger b) => BigInteger.Abs(b) <= MaxExactBig ? new NumberValue((double)b) : new NumberValue(b, null);
    public static NumberValue Of(long l) => Math.Abs((double)l) <= MaxExactDouble ? new NumberValue((double)l) : new NumberValue(new BigInteger(l), null);
    private static readonly BigInteger MaxExactBig = new(MaxExactDouble);

    public override ValueKind Kind => ValueKind.Number;

    protected override int CompareSameKind(Value other)
    {
        var o = (NumberValue)other;
        if (_big is null && o._big is null) return V.CompareTo(o.V);
        // One side is an integer beyond 2^53; a fractional double is far smaller, so doubles order them correctly.
        return TryGetBig(out var a) && o.TryGetBig(out var b) ? a.CompareTo(b) : V.CompareTo(o.V);
    }

    // Equal numbers have equal doubles, whichever form they take (all numbers past a double's range hash alike).
    public override int GetHashCode() => V.GetHashCode();

    public bool IsInteger => _big is not null || (Math.Floor(V) == V && !double.IsInfinity(V));

    /// <summary>The value as an exact integer: true for integers in either form (an integral double is exact).</summary>
    public bool TryGetBig(out BigInteger b)
    {
        if (_big is { } big) b = big.Value;
        else if (IsInteger) b = new BigInteger(V);
        else
        {
            b = default;
            return false;
        }
        return true;
    }

    /// <summary>The value as a long: integers within 2^53, or exact big integers that fit 64 bits.</summary>
    public bool TryGetInt(out long i)
    {
        if (_big is { } big)
        {
            if (big.Value >= long.MinValue && big.Value <= long.MaxValue)
            {
                i = (long)big.Value;
                return true;
            }
        }
        else if (IsInteger && Math.Abs(V) <= MaxExactDouble)
        {
            i = (long)V;
            return true;
        }
        i = 0;
        return false;
    }

    /// <summary>
    /// A JSON or Rego number literal: an integer beyond 2^53 is kept exact, however it is written, and so is a number
    /// past a double's range (every such number with at most <see cref="MaxBigDigits"/> digits is an integer, e.g.
    /// <c>2e308</c>); other numbers are doubles. Null when the text is not a number, is past a double's range and not an integer or
    /// longer than <see cref="MaxBigDigits"/> digits, or is a non-zero number too small for a double.
    /// </summary>
    public static NumberValue? Parse(ReadOnlySpan<char> text)
    {
        // More than 15 digits with no fraction or exponent may be an integer a double cannot hold exactly.
        if (text.Length > 15 && IsIntegerText(text) && BigInteger.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var big))
            return Of(big);
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)) return null;
        // A non-zero number too small for a double (1e-400) would read as 0: refused rather than rounded away.
        if (d == 0 && HasNonZeroDigit(text)) return null;
        // An integer written with an exponent or a fraction (1e308, 2e308) is kept as the exact integer it names once
        // a double cannot hold it exactly, as OPA keeps its text: 3e308 - 1e308 == 2e308.
        if (Math.Abs(d) > MaxExactDouble && TryParseExactInteger(text, out var exact)) return new NumberValue(exact, text.ToString());
        return double.IsInfinity(d) ? null : new NumberValue(d);
    }

    /// <summary>Digits, an optional fraction and an optional exponent, as an exact integer (false if it is not one).</summary>
    private static bool TryParseExactInteger(ReadOnlySpan<char> text, out BigInteger value)
    {
        value = default;
        var neg = text.Length > 0 && text[0] == '-';
        var s = neg || (text.Length > 0 && text[0] == '+') ? text[1..] : text;
        var e = s.IndexOfAny('e', 'E');
        var exp = 0L;
        if (e >= 0)
        {
            if (!long.TryParse(s[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out exp)) return false;
            s = s[..e];
        }
        var dot = s.IndexOf('.');
        var digits = dot < 0 ? s.ToString() : string.Concat(s[..dot], s[(dot + 1)..]);
        if (dot >= 0) exp -= s.Length - dot - 1;
        digits = digits.TrimStart('0');
        // Trailing zeros of the digits move into the exponent, so a fraction written as 2.50e308 still counts as whole.
        var trimmed = digits.TrimEnd('0');
        exp += digits.Length - trimmed.Length;
        if (trimmed.Length == 0 || exp < 0 || trimmed.Length + exp > MaxBigDigits) return false;
        var mant = BigInteger.Parse(trimmed, NumberStyles.None, CultureInfo.InvariantCulture);
        value = mant * BigInteger.Pow(10, (int)exp);
        if (neg) value = -value;
        return true;
    }

    private static bool HasNonZeroDigit(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (c is 'e' or 'E') return false;
            if (c is >= '1' and <= '9') return true;
        }
        return false;
    }

    private static bool IsIntegerText(ReadOnlySpan<char> text)
    {
        var i = text[0] == '-' ? 1 : 0;
        if (i == text.Length) return false;
        for (; i < text.Length; i++)
            if (!char.IsAsciiDigit(text[i])) return false;
        return true;
    }

    public static string Format(double d)
    {
        if (Math.Floor(d) == d && Math.Abs(d) < 1e21) return ((decimal)d).ToString(CultureInfo.InvariantCulture);
        return d.ToString("R", CultureInfo.InvariantCulture);
    }

    public string Text => _big is { } big ? big.Literal ?? big.Value.ToString(CultureInfo.InvariantCulture) : Format(V);

    public override void WriteJson(StringBuilder sb) => sb.Append(Text);
}

internal sealed class StringValue(string value) : Value
{
    public string V { get; } = value;
    public override ValueKind Kind => ValueKind.String;
    protected override int CompareSameKind(Value other) => string.CompareOrdinal(V, ((StringValue)other).V);
    public override int GetHashCode() => V.GetHashCode(StringComparison.Ordinal);
    public override void WriteJson(StringBuilder sb) => WriteJsonString(sb, V);
}

internal sealed class ArrayValue(Value[] items) : Value
{
    private int _hash;
    public Value[] Items { get; } = items;
    public override ValueKind Kind => ValueKind.Array;

    protected override int CompareSameKind(Value other) => CompareSeq(Items, ((ArrayValue)other).Items);

    internal static int CompareSeq(IReadOnlyList<Value> a, IReadOnlyList<Value> b)
    {
        var n = Math.Min(a.Count, b.Count);
        for (var i = 0; i < n; i++)
        {
            var c = a[i].CompareTo(b[i]);
            if (c != 0) return c;
        }
        return a.Count.CompareTo(b.Count);
    }

    public override int GetHashCode()
    {
        if (_hash != 0) return _hash;
        var h = new HashCode();
        h.Add(4);
        foreach (var i in Items) h.Add(i);
        return _hash = h.ToHashCode() | 1;
    }

    public override void WriteJson(StringBuilder sb)
    {
        sb.Append('[');
        for (var i = 0; i < Items.Length; i++)
        {
            if (i > 0) sb.Append(',');
            Items[i].WriteJson(sb);
        }
        sb.Append(']');
    }
}

internal sealed class SetValue : Value
{
    private readonly HashSet<Value> _items;
    private Value[]? _sorted;
    private int _hash;

    public SetValue(IEnumerable<Value> items) => _items = new HashSet<Value>(items);
    internal SetValue(HashSet<Value> owned, bool _) => _items = owned;

    public override ValueKind Kind => ValueKind.Set;
    public int Count => _items.Count;
    public bool Contains(Value v) => _items.Contains(v);
    public IReadOnlySet<Value> Items => _items;

    /// <summary>Elements in sorted order (OPA iterates and prints sets sorted).</summary>
    public Value[] Sorted
    {
        get
        {
            if (_sorted is not null) return _sorted;
            var arr = _items.ToArray();
            Array.Sort(arr);
            return _sorted = arr;
        }
    }

    protected override int CompareSameKind(Value other) => ArrayValue.CompareSeq(Sorted, ((SetValue)other).Sorted);

    public override int GetHashCode()
    {
        if (_hash != 0) return _hash;
        var h = 6;
        foreach (var i in _items) h ^= i.GetHashCode() * 31;
        return _hash = h | 1;
    }

    public override void WriteJson(StringBuilder sb)
    {
        sb.Append('[');
        var s = Sorted;
        for (var i = 0; i < s.Length; i++)
        {
            if (i > 0) sb.Append(',');
            s[i].WriteJson(sb);
        }
        sb.Append(']');
    }
}

internal sealed class ObjectValue : Value
{
    private readonly Dictionary<Value, Value> _map;
    private Value[]? _sortedKeys;
    private int _hash;

    public ObjectValue(Dictionary<Value, Value> owned) => _map = owned;

    public override ValueKind Kind => ValueKind.Object;
    public int Count => _map.Count;
    public IReadOnlyDictionary<Value, Value> Map => _map;

    public Value? Get(Value key) => _map.TryGetValue(key, out var v) ? v : null;
    public Value? Get(string key) => _map.TryGetValue(new StringValue(key), out var v) ? v : null;

    public Value[] SortedKeys
    {
        get
        {
            if (_sortedKeys is not null) return _sortedKeys;
            var arr = _map.Keys.ToArray();
            Array.Sort(arr);
            return _sortedKeys = arr;
        }
    }

    protected override int CompareSameKind(Value other)
    {
        var o = (ObjectValue)other;
        var ak = SortedKeys;
        var bk = o.SortedKeys;
        var n = Math.Min(ak.Length, bk.Length);
        for (var i = 0; i < n; i++)
        {
            var c = ak[i].CompareTo(bk[i]);
            if (c != 0) return c;
            c = _map[ak[i]].CompareTo(o._map[bk[i]]);
            if (c != 0) return c;
        }
        return ak.Length.CompareTo(bk.Length);
    }

    public override int GetHashCode()
    {
        if (_hash != 0) return _hash;
        var h = 5;
        foreach (var kv in _map) h ^= HashCode.Combine(kv.Key, kv.Value);
        return _hash = h | 1;
    }

    public override void WriteJson(StringBuilder sb)
    {
        sb.Append('{');
        var first = true;
        foreach (var k in SortedKeys)
        {
            if (!first) sb.Append(',');
            first = false;
            if (k is StringValue) k.WriteJson(sb);
            else WriteJsonString(sb, k.ToJson());
            sb.Append(':');
            _map[k].WriteJson(sb);
        }
        sb.Append('}');
    }
}
