using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Sandbox.Policy.Rego;

/// <summary>JSON ⇄ Rego values, bounded (depth) and reflection-free.</summary>
internal static class ValueJson
{
    public const int DefaultMaxDepth = 128;

    /// <summary>Parses JSON text. Throws <see cref="RegoException"/> with <c>invalid_parameter</c> on malformed or too deep input.</summary>
    public static Value Parse(string json, int maxDepth = DefaultMaxDepth) => Parse(Encoding.UTF8.GetBytes(json), maxDepth);

    public static Value Parse(ReadOnlySpan<byte> utf8, int maxDepth = DefaultMaxDepth)
    {
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = maxDepth, CommentHandling = JsonCommentHandling.Disallow });
        try
        {
            if (!reader.Read()) throw new RegoException(RegoErrorCodes.InvalidParameter, "empty JSON document");
            var v = ReadValue(ref reader);
            if (reader.Read()) throw new RegoException(RegoErrorCodes.InvalidParameter, $"unexpected JSON token {reader.TokenType} after the document");
            return v;
        }
        catch (JsonException e)
        {
            throw new RegoException(RegoErrorCodes.InvalidParameter, $"malformed JSON: {e.Message}");
        }
    }

    private static Value ReadValue(ref Utf8JsonReader r)
    {
        switch (r.TokenType)
        {
            case JsonTokenType.Null: return Value.Null;
            case JsonTokenType.True: return Value.True;
            case JsonTokenType.False: return Value.False;
            case JsonTokenType.Number:
                // An integer of more than 15 digits may be beyond 2^53: kept exact.
                if (r.ValueSpan.Length > 15 && !r.ValueSpan.ContainsAny((byte)'.', (byte)'e', (byte)'E'))
                    return NumberValue.Parse(System.Text.Encoding.ASCII.GetString(r.ValueSpan)) ?? new NumberValue(r.GetDouble());
                // Within 2^53 a double is exact (.NET reads 1e400 as infinity and 1e-400 as 0, so both are checked).
                if (r.TryGetDouble(out var d) && Math.Abs(d) <= NumberValue.MaxExactDouble && (d != 0 || r.ValueSpan.Length == 1))
                    return new NumberValue(d);
                // Beyond: an integer written with an exponent (1e308) or past a double's range (1e400) is the exact
                // integer OPA keeps; another number is a double; one too small for a double is refused by name.
                var text = System.Text.Encoding.ASCII.GetString(r.ValueSpan);
                return NumberValue.Parse(text) ?? throw new JsonException(
                    $"number {text} is beyond the range of a double and not an integer of at most {NumberValue.MaxBigDigits} digits");
            case JsonTokenType.String: return new StringValue(r.GetString()!);
            case JsonTokenType.StartArray:
                {
                    var list = new List<Value>();
                    while (r.Read() && r.TokenType != JsonTokenType.EndArray) list.Add(ReadValue(ref r));
                    return new ArrayValue(list.ToArray());
                }
            case JsonTokenType.StartObject:
                {
                    var map = new Dictionary<Value, Value>();
                    while (r.Read() && r.TokenType != JsonTokenType.EndObject)
                    {
                        var key = new StringValue(r.GetString()!);
                        r.Read();
                        map[key] = ReadValue(ref r);
                    }
                    return new ObjectValue(map);
                }
            default:
                throw new RegoException(RegoErrorCodes.InvalidParameter, $"unexpected JSON token {r.TokenType}");
        }
    }

    public static Value FromNode(JsonNode? node, int depth = 0)
    {
        if (depth > DefaultMaxDepth) throw new RegoException(RegoErrorCodes.InvalidParameter, $"JSON document nested deeper than {DefaultMaxDepth} levels");
        switch (node)
        {
            case null: return Value.Null;
            case JsonObject o:
                {
                    var map = new Dictionary<Value, Value>(o.Count);
                    foreach (var kv in o) map[new StringValue(kv.Key)] = FromNode(kv.Value, depth + 1);
                    return new ObjectValue(map);
                }
            case JsonArray a:
                {
                    var items = new Value[a.Count];
                    for (var i = 0; i < items.Length; i++) items[i] = FromNode(a[i], depth + 1);
                    return new ArrayValue(items);
                }
            case JsonValue v:
                {
                    var e = v.GetValueKind();
                    return e switch
                    {
                        JsonValueKind.String => new StringValue(v.GetValue<string>()),
                        JsonValueKind.True => Value.True,
                        JsonValueKind.False => Value.False,
                        JsonValueKind.Number => v.TryGetValue<long>(out var whole) ? NumberValue.Of(whole) : NumberValue.Parse(v.ToJsonString()) ?? new NumberValue(ToDouble(v)),
                        _ => Value.Null,
                    };
                }
            default:
                return Value.Null;
        }
    }

    private static double ToDouble(JsonValue v)
    {
        if (v.TryGetValue<double>(out var d)) return d;
        if (v.TryGetValue<long>(out var l)) return l;
        if (v.TryGetValue<int>(out var i)) return i;
        if (v.TryGetValue<decimal>(out var m)) return (double)m;
        if (v.TryGetValue<JsonElement>(out var el)) return el.GetDouble();
        return double.Parse(v.ToJsonString(), CultureInfo.InvariantCulture);
    }

    /// <summary>OPA's JSON form as a node (sets become sorted arrays, object keys sorted).</summary>
    public static JsonNode? ToNode(Value v)
    {
        switch (v)
        {
            case NullValue: return null;
            case BoolValue b: return JsonValue.Create(b.V);
            case NumberValue n:
                if (n.TryGetInt(out var l)) return JsonValue.Create(l);
                return n.Big is not null ? JsonNode.Parse(n.Text) : JsonValue.Create(n.V);
            case StringValue s: return JsonValue.Create(s.V);
            case ArrayValue a:
                {
                    var arr = new JsonArray();
                    foreach (var i in a.Items) arr.Add(ToNode(i));
                    return arr;
                }
            case SetValue set:
                {
                    var arr = new JsonArray();
                    foreach (var i in set.Sorted) arr.Add(ToNode(i));
                    return arr;
                }
            case ObjectValue o:
                {
                    var obj = new JsonObject();
                    foreach (var k in o.SortedKeys) obj[k is StringValue ks ? ks.V : k.ToJson()] = ToNode(o.Map[k]);
                    return obj;
                }
            default: return null;
        }
    }
}
