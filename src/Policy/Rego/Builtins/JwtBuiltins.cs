using System.Text;

namespace Sandbox.Policy.Rego;

/// <summary>
/// io.jwt.decode, io.jwt.verify_{hs,rs,ps,es}{256,384,512}, io.jwt.verify_eddsa, io.jwt.decode_verify, io.jwt.encode_sign[_raw]:
/// JWS compact tokens as OPA reads them (RFC 7515/7519). Malformed tokens and keys are builtin errors; a signature
/// or claim that does not hold is <c>false</c> (decode_verify: <c>[false, {}, {}]</c>).
/// </summary>
internal static class JwtBuiltins
{
    private static readonly ArrayValue Unverified = new([Value.False, Value.EmptyObject, Value.EmptyObject]);

    public static void Register(BuiltinTable t)
    {
        t.Register("io.jwt.decode", 1, (a, _) => Decode(a[0], "io.jwt.decode"));
        foreach (var bits in new[] { "256", "384", "512" })
        {
            var hs = "HS" + bits;
            t.Register("io.jwt.verify_hs" + bits, 2, (a, _) => VerifyHmac(a, hs));
            foreach (var family in new[] { "RS", "PS", "ES" })
            {
                var alg = family + bits;
                t.Register("io.jwt.verify_" + alg.ToLowerInvariant(), 2, (a, _) => VerifyWithKeys(a, alg));
            }
        }
        t.Register("io.jwt.verify_eddsa", 2, (a, _) => VerifyWithKeys(a, "EdDSA"));
        t.Register("io.jwt.decode_verify", 2, (a, ctx) => DecodeVerify(a, ctx));
        t.Register("io.jwt.encode_sign", 3, (a, _) => EncodeSign(
            Bytes(EncodingBuiltins.GoJsonEscape(a[0].ToJson())), Bytes(EncodingBuiltins.GoJsonEscape(a[1].ToJson())),
            a[2].ToJson(), "io.jwt.encode_sign"));
        t.Register("io.jwt.encode_sign_raw", 3, (a, _) => EncodeSign(
            Bytes(BuiltinTable.Str(a, 0, "io.jwt.encode_sign_raw")), Bytes(BuiltinTable.Str(a, 1, "io.jwt.encode_sign_raw")),
            BuiltinTable.Str(a, 2, "io.jwt.encode_sign_raw"), "io.jwt.encode_sign_raw"));
    }

    /// <summary>The three base64url sections of a compact token.</summary>
    private readonly record struct Token(string Header, string Payload, string Signature)
    {
        public byte[] SigningInput => JwtKey.Ascii(Header + "." + Payload);
    }

    private static Token Split(Value v, string fn)
    {
        var s = v is StringValue sv ? sv.V : throw new BuiltinTypeException($"{fn}: operand 1 must be string but got {Value.TypeName(v)}");
        if (!s.Contains('.', StringComparison.Ordinal)) throw new BuiltinException($"{fn}: encoded JWT had no period separators");
        var parts = s.Split('.');
        if (parts.Length != 3) throw new BuiltinException($"{fn}: encoded JWT must have 3 sections, found {parts.Length}");
        return new Token(parts[0], parts[1], parts[2]);
    }

    private static byte[] Base64Url(string s, string what, string fn) =>
        EncodingBuiltins.TryBase64(s, url: true, out var bytes) ? bytes : throw new BuiltinException($"{fn}: JWT {what} had invalid encoding: illegal base64 data");

    private static ObjectValue JsonObject(byte[] utf8, string what, string fn)
    {
        Value v;
        try
        {
            v = ValueJson.Parse(utf8);
        }
        catch (RegoException e)
        {
            throw new BuiltinException($"{fn}: {what}: invalid JSON: {e.Message}");
        }
        return v as ObjectValue ?? throw new BuiltinException($"{fn}: {what}: decoded JSON type was not an Object");
    }

    private static ObjectValue DecodeHeader(Token token, string fn)
    {
        var header = JsonObject(Base64Url(token.Header, "header", fn), "bad JWT header", fn);
        if (header.Get("enc") is not null) throw new BuiltinException($"{fn}: JWT is a JWE object, which is not supported");
        return header;
    }

    /// <summary>The header fields that matter for verification; a field of the wrong type is an error.</summary>
    private sealed record HeaderFields(string Alg, string Kid, string Cty, bool Valid);

    private static HeaderFields ParseHeader(ObjectValue header, string fn)
    {
        string Field(string name) => header.Get(name) switch
        {
            null => "",
            StringValue s => s.V,
            _ => throw new BuiltinException($"{fn}: {name}: must be a string"),
        };
        var alg = Field("alg");
        var kid = Field("kid");
        Field("typ");
        var cty = Field("cty");
        HashSet<string>? crit = null;
        if (header.Get("crit") is { } c)
        {
            if (c is not ArrayValue arr) throw new BuiltinException($"{fn}: crit: must be a list");
            crit = arr.Items.OfType<StringValue>().Select(s => s.V).ToHashSet(StringComparer.Ordinal);
            if (crit.Count == 0) throw new BuiltinException($"{fn}: crit: must be a nonempty list");
        }
        // RFC 7515: alg is required, and a critical parameter we do not understand makes the token invalid.
        var known = new HashSet<string>(["alg", "kid", "typ", "cty", "crit"], StringComparer.Ordinal);
        var unknownCritical = crit is not null && header.SortedKeys.OfType<StringValue>().Any(k => !known.Contains(k.V) && crit.Contains(k.V));
        return new HeaderFields(alg, kid, cty, alg.Length > 0 && !unknownCritical);
    }

    private static Value Decode(Value jwt, string fn)
    {
        var token = Split(jwt, fn);
        var header = DecodeHeader(token, fn);
        var payloadBytes = Base64Url(token.Payload, "payload", fn);
        // A nested token (cty JWT) is decoded in turn; jwt.io-style quoting around it is dropped.
        if (header.Get("cty") is StringValue { V: "JWT" })
            return Decode(Value.String(Encoding.UTF8.GetString(payloadBytes).Trim('"', '\'')), fn);
        var payload = JsonObject(payloadBytes, "JWT payload", fn);
        var signature = Base64Url(token.Signature, "signature", fn);
        return new ArrayValue([header, payload, Value.String(Convert.ToHexStringLower(signature))]);
    }

    private static Value VerifyHmac(Value[] a, string alg)
    {
        var fn = "io.jwt.verify_" + alg.ToLowerInvariant();
        var token = Split(a[0], fn);
        var secret = Bytes(BuiltinTable.Str(a, 1, fn));
        var signature = Base64Url(token.Signature, "signature", fn);
        var mac = JwtKey.Hmac(alg, secret, token.SigningInput);
        return Value.Bool(System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(mac, signature));
    }

    private static Value VerifyWithKeys(Value[] a, string alg)
    {
        var fn = "io.jwt.verify_" + alg.ToLowerInvariant();
        var token = Split(a[0], fn);
        var keys = JwtKey.ParseVerificationKeys(BuiltinTable.Str(a, 1, fn), fn);
        try
        {
            var signature = Base64Url(token.Signature, "signature", fn);
            var header = ParseHeader(DecodeHeader(token, fn), fn);
            return Value.Bool(VerifyAny(keys, header, alg, alg, token.SigningInput, signature));
        }
        finally
        {
            foreach (var k in keys) k.Dispose();
        }
    }

    /// <summary>
    /// As OPA: a key whose kid matches the token's decides alone; otherwise any key verifies, skipping keys whose
    /// own alg differs from the token's. <paramref name="verifyAlg"/> is the algorithm the signature is checked with.
    /// </summary>
    private static bool VerifyAny(List<JwtKey> keys, HeaderFields header, string tokenAlg, string verifyAlg, byte[] input, byte[] signature)
    {
        if (header.Kid.Length > 0 && keys.Find(k => k.Kid == header.Kid) is { } byKid)
            return byKid.Verify(verifyAlg, input, signature);
        foreach (var key in keys)
        {
            if (key.Alg is not null && key.Alg != header.Alg) continue;
            if (key.Verify(verifyAlg, input, signature)) return true;
        }
        return false;
    }

    private sealed class Constraints
    {
        public List<JwtKey>? Keys;
        public string Secret = "", Alg = "", Iss = "", Aud = "";
        public double TimeNs = -1;
    }

    private static Constraints ParseConstraints(ObjectValue o, BuiltinContext ctx, string fn)
    {
        var c = new Constraints();
        string Str(string name, Value v) => v is StringValue s ? s.V : throw new BuiltinException($"{fn}: {name} constraint: must be a string");
        foreach (var k in o.SortedKeys)
        {
            var name = k is StringValue ks ? ks.V : throw new BuiltinException($"{fn}: unknown token validation constraint: {k}");
            var v = o.Get(k)!;
            switch (name)
            {
                case "cert": c.Keys = JwtKey.ParseVerificationKeys(Str("cert", v), fn); break;
                case "secret": c.Secret = Str("secret", v); break;
                case "alg": c.Alg = Str("alg", v); break;
                case "iss": c.Iss = Str("iss", v); break;
                case "aud": c.Aud = Str("aud", v); break;
                case "time":
                    if (v is not NumberValue n) throw new BuiltinException($"{fn}: token time constraint: must be a number");
                    if (n.V < 0) throw new BuiltinException($"{fn}: token time constraint: must not be negative");
                    c.TimeNs = n.V;
                    break;
                default: throw new BuiltinException($"{fn}: unknown token validation constraint: {name}");
            }
        }
        if (c.TimeNs < 0) c.TimeNs = ctx.NowNs;
        var keyKinds = (c.Keys is not null ? 1 : 0) + (c.Secret.Length > 0 ? 1 : 0);
        if (keyKinds > 1) throw new BuiltinException($"{fn}: duplicate key constraints");
        if (keyKinds < 1) throw new BuiltinException($"{fn}: no key constraint");
        return c;
    }

    private static Value DecodeVerify(Value[] a, BuiltinContext ctx)
    {
        const string fn = "io.jwt.decode_verify";
        var c = ParseConstraints(BuiltinTable.Obj(a, 1, fn), ctx, fn);
        try
        {
            var jwt = a[0];
            ObjectValue header;
            byte[] payloadBytes;
            while (true)
            {
                var token = Split(jwt, fn);
                header = DecodeHeader(token, fn);
                var fields = ParseHeader(header, fn);
                if (!fields.Valid) return Unverified;
                if (c.Alg.Length > 0 && c.Alg != fields.Alg) return Unverified;
                var signature = Base64Url(token.Signature, "signature", fn);
                var ok = c.Keys is not null
                    ? JwtKey.Algorithms.Contains(fields.Alg) && VerifyAny(c.Keys, fields, fields.Alg, fields.Alg, token.SigningInput, signature)
                    : fields.Alg.StartsWith("HS", StringComparison.Ordinal) && JwtKey.Algorithms.Contains(fields.Alg)
                      && System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
                          JwtKey.Hmac(fields.Alg, Bytes(c.Secret), token.SigningInput), signature);
                if (!ok) return Unverified;
                payloadBytes = Base64Url(token.Payload, "payload", fn);
                if (!string.Equals(fields.Cty, "JWT", StringComparison.OrdinalIgnoreCase)) break;
                jwt = Value.String(Encoding.UTF8.GetString(payloadBytes));
            }
            var payload = JsonObject(payloadBytes, "JWT payload", fn);
            if (c.Iss.Length > 0 && !(payload.Get("iss") is StringValue iss && iss.V == c.Iss)) return Unverified;
            if (payload.Get("aud") is { } aud ? !AudienceMatches(aud, c.Aud) : c.Aud.Length > 0) return Unverified;
            var nowS = c.TimeNs / 1e9;
            if (payload.Get("exp") is { } exp)
            {
                if (exp is not NumberValue e) throw new BuiltinException($"{fn}: exp value must be a number");
                if (nowS >= e.V) return Unverified;
            }
            if (payload.Get("nbf") is { } nbf)
            {
                if (nbf is not NumberValue n) throw new BuiltinException($"{fn}: nbf value must be a number");
                if (nowS < n.V) return Unverified;
            }
            return new ArrayValue([Value.True, header, payload]);
        }
        finally
        {
            if (c.Keys is not null) foreach (var k in c.Keys) k.Dispose();
        }
    }

    private static bool AudienceMatches(Value aud, string want) => aud switch
    {
        StringValue s => s.V == want,
        ArrayValue arr => arr.Items.Any(x => x is StringValue s && s.V == want),
        _ => false,
    };

    private static Value EncodeSign(byte[] headerJson, byte[] payloadJson, string jwkJson, string fn)
    {
        var keys = JwtKey.ParseJwks(jwkJson, fn, includeUnknownAlg: true);
        try
        {
            if (keys.Count == 0) throw new BuiltinException($"{fn}: no keys found in JWK set");
            var header = ValueJson.Parse(headerJson) as ObjectValue ?? throw new BuiltinException($"{fn}: JWT header must be a JSON object");
            var alg = header.Get("alg") is StringValue al ? al.V : throw new BuiltinException($"{fn}: missing or invalid 'alg' header");
            if (!JwtKey.Algorithms.Contains(alg)) throw new BuiltinException($"{fn}: unknown JWS algorithm: {alg}");
            var typ = header.Get("typ") as StringValue;
            if ((typ is null || typ.V == "JWT") && !IsJson(payloadJson)) throw new BuiltinException($"{fn}: type is JWT but payload is not JSON");
            var input = B64Url(headerJson) + "." + B64Url(payloadJson);
            var signature = keys[0].Sign(alg, JwtKey.Ascii(input), fn);
            return Value.String(input + "." + B64Url(signature));
        }
        catch (RegoException e)
        {
            throw new BuiltinException($"{fn}: {e.Message}");
        }
        finally
        {
            foreach (var k in keys) k.Dispose();
        }
    }

    private static bool IsJson(byte[] utf8)
    {
        try
        {
            ValueJson.Parse(utf8);
            return true;
        }
        catch (RegoException)
        {
            return false;
        }
    }

    private static string B64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);
}
