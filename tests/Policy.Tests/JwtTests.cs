using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Sandbox.Policy.Rego;

namespace Sandbox.Policy.Tests;

/// <summary>
/// io.jwt.*: tokens signed here with .NET's own keys (RSA, RSA-PSS, ECDSA, HMAC) are verified by the policy, and
/// the policy's own signatures verify with .NET; tampering, wrong keys and failed claims give false.
/// </summary>
public class JwtTests
{
    private static readonly CompiledPolicy Policy = RegoBundle.FromFiles([("jwt.rego", """
        package jwt
        signed := io.jwt.encode_sign(input.header, input.payload, input.jwk)
        decoded := io.jwt.decode(input.token)
        verify_rs256 := io.jwt.verify_rs256(input.token, input.key)
        verify_ps256 := io.jwt.verify_ps256(input.token, input.key)
        verify_es256 := io.jwt.verify_es256(input.token, input.key)
        verify_hs256 := io.jwt.verify_hs256(input.token, input.key)
        decode_verify := io.jwt.decode_verify(input.token, input.constraints)
        """)]).Compile();

    private static JsonNode? Eval(string rule, object input, bool strict = false)
    {
        var r = Policy.Evaluate("data.jwt." + rule, JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(input)),
            new EvalOptions { StrictBuiltinErrors = strict });
        Assert.True(r.Kind != RegoResultKind.Error, r.ToString());
        return r.Value;
    }

    private static string B64(byte[] b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static Dictionary<string, string> RsaJwk(RSA rsa, bool withPrivate)
    {
        var p = rsa.ExportParameters(withPrivate);
        var jwk = new Dictionary<string, string> { ["kty"] = "RSA", ["n"] = B64(p.Modulus!), ["e"] = B64(p.Exponent!) };
        if (withPrivate)
        {
            jwk["d"] = B64(p.D!);
            jwk["p"] = B64(p.P!);
            jwk["q"] = B64(p.Q!);
            jwk["dp"] = B64(p.DP!);
            jwk["dq"] = B64(p.DQ!);
            jwk["qi"] = B64(p.InverseQ!);
        }
        return jwk;
    }

    [Fact]
    public void EncodeSignRaw_GivesTheRfc7515HmacExample()
    {
        // RFC 7515 appendix A.1: the header and payload bytes (with their CRLFs) and the key give this exact token.
        var p = RegoBundle.FromFiles([("a1.rego", "package a\nt := io.jwt.encode_sign_raw(\"{\\\"typ\\\":\\\"JWT\\\",\\r\\n \\\"alg\\\":\\\"HS256\\\"}\", " +
            "\"{\\\"iss\\\":\\\"joe\\\",\\r\\n \\\"exp\\\":1300819380,\\r\\n \\\"http://example.com/is_root\\\":true}\", " +
            "`{\"kty\":\"oct\",\"k\":\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow\"}`)\n")]).Compile();
        Assert.Equal("\"eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk\"",
            p.Evaluate("data.a.t", (JsonNode?)null).ValueJson);
    }

    [Theory]
    [InlineData("RS256", "verify_rs256")]
    [InlineData("PS256", "verify_ps256")]
    public void RsaSignedByThePolicy_VerifiesWithDotNetAndThePolicy(string alg, string verifier)
    {
        using var rsa = RSA.Create(2048);
        var token = Eval("signed", new { header = new { alg }, payload = new { sub = "alice" }, jwk = RsaJwk(rsa, withPrivate: true) })!.GetValue<string>();
        var parts = token.Split('.');
        var signature = Convert.FromBase64String(parts[2].Replace('-', '+').Replace('_', '/').PadRight((parts[2].Length + 3) / 4 * 4, '='));
        Assert.True(rsa.VerifyData(System.Text.Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), signature, HashAlgorithmName.SHA256,
            alg == "RS256" ? RSASignaturePadding.Pkcs1 : RSASignaturePadding.Pss));

        var pem = rsa.ExportSubjectPublicKeyInfoPem();
        Assert.True(Eval(verifier, new { token, key = pem })!.GetValue<bool>());
        var tampered = parts[0] + "." + B64("{\"sub\":\"mallory\"}"u8.ToArray()) + "." + parts[2];
        Assert.False(Eval(verifier, new { token = tampered, key = pem })!.GetValue<bool>());
        using var other = RSA.Create(2048);
        Assert.False(Eval(verifier, new { token, key = other.ExportSubjectPublicKeyInfoPem() })!.GetValue<bool>());
    }

    [Fact]
    public void Es256SignedByDotNet_VerifiesWithAPemKeyAndAJwkSet()
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var input = B64("{\"alg\":\"ES256\",\"kid\":\"k2\"}"u8.ToArray()) + "." + B64("{\"iss\":\"ci\"}"u8.ToArray());
        var token = input + "." + B64(ec.SignData(System.Text.Encoding.ASCII.GetBytes(input), HashAlgorithmName.SHA256));
        Assert.True(Eval("verify_es256", new { token, key = ec.ExportSubjectPublicKeyInfoPem() })!.GetValue<bool>());

        var q = ec.ExportParameters(false).Q;
        using var decoy = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var dq = decoy.ExportParameters(false).Q;
        var jwks = new JsonObject
        {
            ["keys"] = new JsonArray(
                new JsonObject { ["kty"] = "EC", ["crv"] = "P-256", ["kid"] = "k1", ["x"] = B64(dq.X!), ["y"] = B64(dq.Y!) },
                new JsonObject { ["kty"] = "EC", ["crv"] = "P-256", ["kid"] = "k2", ["x"] = B64(q.X!), ["y"] = B64(q.Y!) }),
        }.ToJsonString();
        var r = Eval("decode_verify", new { token, constraints = new { cert = jwks, iss = "ci" } })!.AsArray();
        Assert.Equal("[true,{\"alg\":\"ES256\",\"kid\":\"k2\"},{\"iss\":\"ci\"}]", r.ToJsonString());
    }

    [Fact]
    public void DecodeVerify_ChecksTimeAudienceIssuerAndAlgorithm()
    {
        var token = Eval("signed", new
        {
            header = new { alg = "HS256", typ = "JWT" },
            payload = new { iss = "ci", aud = new[] { "sandbox", "other" }, nbf = 1000, exp = 2000 },
            jwk = new { kty = "oct", k = B64("s3cret"u8.ToArray()) },
        })!.GetValue<string>();
        bool Valid(object constraints) => Eval("decode_verify", new { token, constraints })![0]!.GetValue<bool>();

        Assert.True(Valid(new { secret = "s3cret", time = 1500e9, aud = "sandbox", iss = "ci", alg = "HS256" }));
        Assert.False(Valid(new { secret = "s3cret", time = 2000e9, aud = "sandbox" }));  // at exp: expired
        Assert.False(Valid(new { secret = "s3cret", time = 999e9, aud = "sandbox" }));   // before nbf
        Assert.False(Valid(new { secret = "s3cret", time = 1500e9 }));                   // the token names an audience
        Assert.False(Valid(new { secret = "s3cret", time = 1500e9, aud = "nobody" }));
        Assert.False(Valid(new { secret = "s3cret", time = 1500e9, aud = "sandbox", iss = "other" }));
        Assert.False(Valid(new { secret = "s3cret", time = 1500e9, aud = "sandbox", alg = "RS256" }));
        Assert.False(Valid(new { secret = "wrong", time = 1500e9, aud = "sandbox" }));
        Assert.True(Eval("verify_hs256", new { token, key = "s3cret" })!.GetValue<bool>());
    }

    [Theory]
    [InlineData("{\"secret\": \"a\", \"cert\": \"{\\\"kty\\\":\\\"oct\\\",\\\"k\\\":\\\"YQ\\\"}\"}", "duplicate key constraints")]
    [InlineData("{\"iss\": \"x\"}", "no key constraint")]
    [InlineData("{\"secret\": \"a\", \"leeway\": 5}", "unknown token validation constraint: leeway")]
    public void DecodeVerify_BadConstraints_AreBuiltinErrorsNamingThem(string constraints, string message)
    {
        var r = Policy.EvaluateJson("data.jwt.decode_verify", $"{{\"token\": \"a.b.c\", \"constraints\": {constraints}}}",
            new EvalOptions { StrictBuiltinErrors = true });
        Assert.Equal(RegoErrorCodes.BuiltinError, r.Error?.Code);
        Assert.Contains(message, r.Error!.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("abc", "encoded JWT had no period separators")]
    [InlineData("a.b", "encoded JWT must have 3 sections, found 2")]
    [InlineData("eyJhbGciOiJIUzI1NiIsImVuYyI6IngifQ.e30.", "JWT is a JWE object, which is not supported")]
    public void Decode_MalformedTokens_AreBuiltinErrors(string token, string message)
    {
        var r = Policy.EvaluateJson("data.jwt.decoded", $"{{\"token\": \"{token}\"}}", new EvalOptions { StrictBuiltinErrors = true });
        Assert.Equal(RegoErrorCodes.BuiltinError, r.Error?.Code);
        Assert.Contains(message, r.Error!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_GivesHeaderPayloadAndHexSignature_AndFollowsNestedTokens()
    {
        var inner = B64("{\"alg\":\"HS256\"}"u8.ToArray()) + "." + B64("{\"sub\":\"0\"}"u8.ToArray()) + "." + B64([0xde, 0xad]);
        var outer = B64("{\"alg\":\"HS256\",\"cty\":\"JWT\"}"u8.ToArray()) + "." + B64(System.Text.Encoding.ASCII.GetBytes(inner)) + "." + B64([1]);
        Assert.Equal("[{\"alg\":\"HS256\"},{\"sub\":\"0\"},\"dead\"]", Eval("decoded", new { token = outer })!.ToJsonString());
    }
}
