using System.Text;

namespace Sandbox.Policy.Rego;

/// <summary>json.marshal/unmarshal/is_valid, yaml.unmarshal/is_valid, base64[url].*, hex.*, urlquery.encode/decode.</summary>
internal static class EncodingBuiltins
{
    public static void Register(BuiltinTable t)
    {
        t.Register("json.marshal", 1, (a, _) => Value.String(GoJsonEscape(a[0].ToJson())));
        t.Register("json.marshal_with_options", 2, (a, _) => Value.String(MarshalWithOptions(a[0], BuiltinTable.Obj(a, 1, "json.marshal_with_options"))));
        t.Register("json.unmarshal", 1, (a, _) =>
        {
            try
            {
                return ValueJson.Parse(BuiltinTable.Str(a, 0, "json.unmarshal"));
            }
            catch (RegoException e)
            {
                throw new BuiltinException($"json.unmarshal: {e.Message}");
            }
        });
        t.Register("json.is_valid", 1, (a, _) =>
        {
            if (a[0] is not StringValue s) return Value.False;
            try
            {
                ValueJson.Parse(s.V);
                return Value.True;
            }
            catch (RegoException)
            {
                return Value.False;
            }
        });
        t.Register("yaml.unmarshal", 1, (a, _) => Yaml(BuiltinTable.Str(a, 0, "yaml.unmarshal"), "yaml.unmarshal"));
        t.Register("yaml.is_valid", 1, (a, _) =>
        {
            if (a[0] is not StringValue s) return Value.False;
            try
            {
                Yaml(s.V, "yaml.is_valid");
                return Value.True;
            }
            catch (BuiltinException)
            {
                return Value.False;
            }
        });
        t.Register("base64.encode", 1, (a, _) => Value.String(Convert.ToBase64String(Encoding.UTF8.GetBytes(BuiltinTable.Str(a, 0, "base64.encode")))));
        t.Register("base64.decode", 1, (a, _) => Value.String(Utf8(Base64(BuiltinTable.Str(a, 0, "base64.decode"), url: false, "base64.decode"))));
        t.Register("base64.is_valid", 1, (a, _) => Value.Bool(a[0] is StringValue s && TryBase64(s.V, url: false, out byte[] _)));
        t.Register("base64url.encode", 1, (a, _) => Value.String(ToUrl(Convert.ToBase64String(Encoding.UTF8.GetBytes(BuiltinTable.Str(a, 0, "base64url.encode"))))));
        t.Register("base64url.encode_no_pad", 1, (a, _) => Value.String(ToUrl(Convert.ToBase64String(Encoding.UTF8.GetBytes(BuiltinTable.Str(a, 0, "base64url.encode_no_pad")))).TrimEnd('=')));
        t.Register("base64url.decode", 1, (a, _) => Value.String(Utf8(Base64(BuiltinTable.Str(a, 0, "base64url.decode"), url: true, "base64url.decode"))));
        t.Register("hex.encode", 1, (a, _) => Value.String(Convert.ToHexStringLower(Encoding.UTF8.GetBytes(BuiltinTable.Str(a, 0, "hex.encode")))));
        t.Register("hex.decode", 1, (a, _) =>
        {
            var s = BuiltinTable.Str(a, 0, "hex.decode");
            try
            {
                return Value.String(Utf8(Convert.FromHexString(s)));
            }
            catch (FormatException)
            {
                throw new BuiltinException($"hex.decode: invalid hex string \"{s}\"");
            }
        });
        t.Register("urlquery.encode", 1, (a, _) => Value.String(Uri.EscapeDataString(BuiltinTable.Str(a, 0, "urlquery.encode")).Replace("%20", "+", StringComparison.Ordinal)));
        t.Register("urlquery.decode", 1, (a, _) => Value.String(Uri.UnescapeDataString(BuiltinTable.Str(a, 0, "urlquery.decode").Replace('+', ' '))));
        t.Register("urlquery.encode_object", 1, (a, _) => Value.String(EncodeQueryObject(BuiltinTable.Obj(a, 0, "urlquery.encode_object"))));
        t.Register("urlquery.decode_object", 1, (a, _) => DecodeQueryObject(BuiltinTable.Str(a, 0, "urlquery.decode_object")));
    }

    /// <summary>
    /// Go's encoding/json escapes <c>&lt; &gt; &amp;</c> and U+2028/U+2029 inside strings, and OPA's json.marshal
    /// keeps that; these characters occur in JSON text only inside strings, so replacing them is exact.
    /// </summary>
    internal static string GoJsonEscape(string json) =>
        json.AsSpan().IndexOfAny("<>&\u2028\u2029") < 0 ? json : json
            .Replace("<", "\\u003c", StringComparison.Ordinal).Replace(">", "\\u003e", StringComparison.Ordinal)
            .Replace("&", "\\u0026", StringComparison.Ordinal).Replace("\u2028", "\\u2028", StringComparison.Ordinal)
            .Replace("\u2029", "\\u2029", StringComparison.Ordinal);

    /// <summary>
    /// OPA's json.marshal_with_options: keys <c>pretty</c> (bool), <c>indent</c> (default a tab) and <c>prefix</c>;
    /// indent or prefix imply pretty unless <c>pretty</c> says otherwise. Pretty output is Go's MarshalIndent with
    /// the prefix also before the first line.
    /// </summary>
    private static string MarshalWithOptions(Value v, ObjectValue options)
    {
        const string fn = "json.marshal_with_options";
        string indent = "\t", prefix = "";
        bool implicitPretty = false;
        bool? pretty = null;
        foreach (var k in options.SortedKeys)
        {
            var name = k is StringValue ks ? ks.V : throw new BuiltinTypeException($"{fn}: operand 2 must have string keys, got {k}");
            var val = options.Get(k)!;
            switch (name)
            {
                case "prefix":
                    prefix = val is StringValue p ? p.V : throw new BuiltinTypeException($"{fn}: operand 2 \"prefix\" must be a string, got {Value.TypeName(val)}");
                    implicitPretty = true;
                    break;
                case "indent":
                    indent = val is StringValue i ? i.V : throw new BuiltinTypeException($"{fn}: operand 2 \"indent\" must be a string, got {Value.TypeName(val)}");
                    implicitPretty = true;
                    break;
                case "pretty":
                    pretty = val is BoolValue b ? b.V : throw new BuiltinTypeException($"{fn}: operand 2 \"pretty\" must be a boolean, got {Value.TypeName(val)}");
                    break;
                default:
                    throw new BuiltinTypeException($"{fn}: operand 2 object contained unknown key \"{name}\" (accepted: pretty, indent, prefix)");
            }
        }
        var compact = GoJsonEscape(v.ToJson());
        if (!(pretty ?? implicitPretty)) return compact;
        var sb = new StringBuilder(prefix);
        WriteIndented(sb, v, prefix, indent, 0);
        return sb.ToString();
    }

    private static void WriteIndented(StringBuilder sb, Value v, string prefix, string indent, int depth)
    {
        void NewLine(int d)
        {
            sb.Append('\n').Append(prefix);
            for (var i = 0; i < d; i++) sb.Append(indent);
        }
        switch (v)
        {
            case ArrayValue { Items.Length: > 0 } a:
                sb.Append('[');
                for (var i = 0; i < a.Items.Length; i++)
                {
                    if (i > 0) sb.Append(',');
                    NewLine(depth + 1);
                    WriteIndented(sb, a.Items[i], prefix, indent, depth + 1);
                }
                NewLine(depth);
                sb.Append(']');
                break;
            case SetValue { Count: > 0 } s:
                WriteIndented(sb, new ArrayValue(s.Sorted.ToArray()), prefix, indent, depth);
                break;
            case ObjectValue { Count: > 0 } o:
                sb.Append('{');
                var first = true;
                foreach (var k in o.SortedKeys)
                {
                    if (!first) sb.Append(',');
                    first = false;
                    NewLine(depth + 1);
                    sb.Append(GoJsonEscape(k is StringValue ? k.ToJson() : new StringValue(k.ToJson()).ToJson())).Append(": ");
                    WriteIndented(sb, o.Get(k)!, prefix, indent, depth + 1);
                }
                NewLine(depth);
                sb.Append('}');
                break;
            default:
                sb.Append(GoJsonEscape(v.ToJson()));
                break;
        }
    }

    private static Value Yaml(string text, string fn)
    {
        try
        {
            return RegoBundle.YamlToValue(text);
        }
        catch (RegoException e)
        {
            throw new BuiltinException($"{fn}: {e.Message}");
        }
        catch (YamlDotNet.Core.YamlException e)
        {
            throw new BuiltinException($"{fn}: {e.Message}");
        }
    }

    private static string QueryEscape(string s) => Uri.EscapeDataString(s).Replace("%20", "+", StringComparison.Ordinal);

    /// <summary>Go's url.Values.Encode: keys sorted, a string, array or set of strings per key, each pair escaped.</summary>
    private static string EncodeQueryObject(ObjectValue o)
    {
        const string fn = "urlquery.encode_object";
        var parts = new List<string>();
        foreach (var k in o.SortedKeys)
        {
            var key = k is StringValue ks ? QueryEscape(ks.V) : throw new BuiltinTypeException($"{fn}: operand 1 keys must be strings, got {Value.TypeName(k)}");
            IEnumerable<Value> values = o.Get(k)! switch
            {
                StringValue s => [s],
                ArrayValue arr => arr.Items,
                SetValue set => set.Sorted,
                var v => throw new BuiltinTypeException($"{fn}: operand 1 values must be strings, arrays or sets of strings, got {Value.TypeName(v)}"),
            };
            foreach (var v in values)
                parts.Add(key + "=" + (v is StringValue sv ? QueryEscape(sv.V) : throw new BuiltinTypeException($"{fn}: operand 1 values must be strings, got {Value.TypeName(v)}")));
        }
        return string.Join('&', parts);
    }

    /// <summary>Go's url.ParseQuery: each key maps to the array of its values in order; "k" alone is the value "".</summary>
    private static ObjectValue DecodeQueryObject(string query)
    {
        var map = new Dictionary<string, List<Value>>(StringComparer.Ordinal);
        foreach (var pair in query.Split('&'))
        {
            if (pair.Length == 0) continue;
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            string Unescape(string s) => Uri.UnescapeDataString(s.Replace('+', ' '));
            var key = Unescape(eq < 0 ? pair : pair[..eq]);
            var value = eq < 0 ? "" : Unescape(pair[(eq + 1)..]);
            if (!map.TryGetValue(key, out var list)) map[key] = list = [];
            list.Add(Value.String(value));
        }
        return new ObjectValue(map.ToDictionary(kv => (Value)Value.String(kv.Key), kv => (Value)new ArrayValue(kv.Value.ToArray())));
    }

    private static string ToUrl(string b64) => b64.Replace('+', '-').Replace('/', '_');

    private static byte[] Base64(string s, bool url, string fn) =>
        TryBase64(s, url, out var bytes) ? bytes : throw new BuiltinException($"{fn}: illegal base64 data");

    internal static bool TryBase64(string s, bool url, out byte[] bytes)
    {
        var t = url ? s.Replace('-', '+').Replace('_', '/') : s;
        // base64url.decode accepts unpadded input, as OPA's does.
        if (url && t.Length % 4 != 0) t = t.PadRight(t.Length + (4 - (t.Length % 4)), '=');
        bytes = new byte[(t.Length * 3 / 4) + 3];
        if (!Convert.TryFromBase64String(t, bytes, out var n)) return false;
        bytes = bytes[..n];
        return true;
    }

    /// <summary>Decoded bytes as a string; invalid UTF-8 becomes U+FFFD, as Go's string conversion prints it.</summary>
    private static string Utf8(byte[] bytes) => Encoding.UTF8.GetString(bytes);
}
