using System.Text;

namespace Sandbox.Policy.Rego;

/// <summary>json.marshal/unmarshal/is_valid, yaml.unmarshal/is_valid, base64[url].*, hex.*, urlquery.encode/decode.</summary>
internal static class EncodingBuiltins
{
    public static void Register(BuiltinTable t)
    {
        t.Register("json.marshal", 1, (a, _) => Value.String(a[0].ToJson()));
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

    private static string ToUrl(string b64) => b64.Replace('+', '-').Replace('/', '_');

    private static byte[] Base64(string s, bool url, string fn) =>
        TryBase64(s, url, out var bytes) ? bytes : throw new BuiltinException($"{fn}: illegal base64 data");

    private static bool TryBase64(string s, bool url, out byte[] bytes)
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
