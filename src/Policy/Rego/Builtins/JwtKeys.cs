using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Sandbox.Policy.Rego;

/// <summary>
/// The keys of the io.jwt.* builtins: a PEM certificate or public key, a JWK or a JWK set (verification), a JWK
/// with its private part (signing); and the JWS algorithms on them (RFC 7518: HS*, RS*, PS*, ES*; RFC 8037: EdDSA
/// with Ed25519, by BouncyCastle since .NET has no Ed25519).
/// </summary>
internal sealed class JwtKey : IDisposable
{
    private JwtKey(AsymmetricAlgorithm? asymmetric, byte[]? secret, string? alg, string? kid, Ed25519Key? ed25519 = null)
    {
        Asymmetric = asymmetric;
        Ed25519 = ed25519;
        Secret = secret;
        Alg = alg;
        Kid = kid;
    }

    public AsymmetricAlgorithm? Asymmetric { get; }
    public byte[]? Secret { get; }
    /// <summary>An Ed25519 key (RFC 8032): the 32-byte public key, and the 32-byte seed when it can sign.</summary>
    public Ed25519Key? Ed25519 { get; }

    internal sealed record Ed25519Key(byte[] Public, byte[]? Private);

    private const string Ed25519Oid = "1.3.101.112";
    /// <summary>The key's own <c>alg</c> (JWK only): the key is tried only for tokens of that algorithm.</summary>
    public string? Alg { get; }
    public string? Kid { get; }

    public static readonly HashSet<string> Algorithms = new(StringComparer.Ordinal)
    {
        "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
    };

    public void Dispose() => Asymmetric?.Dispose();

    /// <summary>Verification keys from a PEM block (certificate or public key) or a JWK / JWK set in JSON.</summary>
    public static List<JwtKey> ParseVerificationKeys(string text, string fn)
    {
        var trimmed = text.TrimStart();
        if (trimmed.StartsWith("-----BEGIN ", StringComparison.Ordinal)) return [FromPem(trimmed, fn)];
        return ParseJwks(text, fn, includeUnknownAlg: false);
    }

    private static JwtKey FromPem(string pem, string fn)
    {
        var end = pem.IndexOf("-----END ", StringComparison.Ordinal);
        var endLine = end < 0 ? -1 : pem.IndexOf("-----", end + 9, StringComparison.Ordinal);
        if (endLine < 0) throw new BuiltinException($"{fn}: failed to find a PEM block");
        if (pem[(endLine + 5)..].Trim().Length > 0) throw new BuiltinException($"{fn}: extra data after a PEM certificate block");
        try
        {
            if (pem.StartsWith("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal))
            {
                using var cert = X509Certificate2.CreateFromPem(pem);
                if (cert.PublicKey.Oid.Value == Ed25519Oid) return FromEd25519(cert.PublicKey.EncodedKeyValue.RawData, null, null, null, fn);
                AsymmetricAlgorithm? key = (AsymmetricAlgorithm?)cert.GetRSAPublicKey() ?? cert.GetECDsaPublicKey();
                return new JwtKey(key ?? throw new BuiltinException($"{fn}: unsupported certificate key type"), null, null, null);
            }
            if (pem.StartsWith("-----BEGIN PUBLIC KEY-----", StringComparison.Ordinal))
            {
                var der = PemEncoding.Find(pem);
                var bytes = Convert.FromBase64String(pem[der.Base64Data]);
                if (Ed25519PublicKey(bytes) is { } edKey) return FromEd25519(edKey, null, null, null, fn);
                try
                {
                    var rsa = RSA.Create();
                    rsa.ImportSubjectPublicKeyInfo(bytes, out _);
                    return new JwtKey(rsa, null, null, null);
                }
                catch (CryptographicException)
                {
                    var ec = ECDsa.Create();
                    ec.ImportSubjectPublicKeyInfo(bytes, out _);
                    return new JwtKey(ec, null, null, null);
                }
            }
        }
        catch (CryptographicException e)
        {
            throw new BuiltinException($"{fn}: failed to parse a PEM key: {e.Message}");
        }
        catch (FormatException e)
        {
            throw new BuiltinException($"{fn}: failed to parse a PEM key: {e.Message}");
        }
        throw new BuiltinException($"{fn}: failed to extract a Key from the PEM certificate");
    }

    /// <summary>The keys of a JWK (one object) or a JWK set (<c>{"keys": [...]}</c>).</summary>
    public static List<JwtKey> ParseJwks(string json, string fn, bool includeUnknownAlg)
    {
        Value parsed;
        try
        {
            parsed = ValueJson.Parse(json);
        }
        catch (RegoException e)
        {
            throw new BuiltinException($"{fn}: failed to parse a JWK key (set): {e.Message}");
        }
        if (parsed is not ObjectValue o) throw new BuiltinException($"{fn}: failed to parse a JWK key (set): not an object");
        var jwks = o.Get("keys") is ArrayValue arr ? arr.Items : [o];
        var keys = new List<JwtKey>(jwks.Length);
        foreach (var item in jwks)
        {
            if (item is not ObjectValue jwk) throw new BuiltinException($"{fn}: failed to parse a JWK key (set): a key is not an object");
            var alg = OptString(jwk, "alg", fn);
            if (alg is not null && !Algorithms.Contains(alg) && !includeUnknownAlg) continue;
            keys.Add(FromJwk(jwk, alg, fn));
        }
        return keys;
    }

    private static JwtKey FromJwk(ObjectValue jwk, string? alg, string fn)
    {
        var kid = OptString(jwk, "kid", fn);
        var kty = OptString(jwk, "kty", fn) ?? throw new BuiltinException($"{fn}: failed to parse a JWK key (set): missing \"kty\"");
        try
        {
            switch (kty)
            {
                case "RSA":
                {
                    var p = new RSAParameters { Modulus = B64(jwk, "n", fn), Exponent = B64(jwk, "e", fn) };
                    if (jwk.Get("d") is not null)
                    {
                        p.D = B64(jwk, "d", fn);
                        p.P = B64(jwk, "p", fn);
                        p.Q = B64(jwk, "q", fn);
                        p.DP = B64(jwk, "dp", fn);
                        p.DQ = B64(jwk, "dq", fn);
                        p.InverseQ = B64(jwk, "qi", fn);
                    }
                    var rsa = RSA.Create();
                    rsa.ImportParameters(p);
                    return new JwtKey(rsa, null, alg, kid);
                }
                case "EC":
                {
                    var crv = OptString(jwk, "crv", fn) switch
                    {
                        "P-256" => ECCurve.NamedCurves.nistP256,
                        "P-384" => ECCurve.NamedCurves.nistP384,
                        "P-521" => ECCurve.NamedCurves.nistP521,
                        var c => throw new BuiltinException($"{fn}: unsupported JWK curve \"{c}\""),
                    };
                    var p = new ECParameters { Curve = crv, Q = new ECPoint { X = B64(jwk, "x", fn), Y = B64(jwk, "y", fn) } };
                    if (jwk.Get("d") is not null) p.D = B64(jwk, "d", fn);
                    var ec = ECDsa.Create();
                    ec.ImportParameters(p);
                    return new JwtKey(ec, null, alg, kid);
                }
                case "OKP":
                {
                    var crv = OptString(jwk, "crv", fn);
                    if (crv != "Ed25519") throw new BuiltinException($"{fn}: unsupported JWK curve \"{crv}\" (accepted for OKP: Ed25519)");
                    return FromEd25519(B64(jwk, "x", fn), jwk.Get("d") is null ? null : B64(jwk, "d", fn), alg, kid, fn);
                }
                case "oct":
                    return new JwtKey(null, B64(jwk, "k", fn), alg, kid);
                default:
                    throw new BuiltinException($"{fn}: unsupported JWK key type \"{kty}\" (accepted: RSA, EC, OKP, oct)");
            }
        }
        catch (CryptographicException e)
        {
            throw new BuiltinException($"{fn}: invalid JWK key: {e.Message}");
        }
    }

    private static JwtKey FromEd25519(byte[] publicKey, byte[]? seed, string? alg, string? kid, string fn)
    {
        if (publicKey.Length != 32 || seed is { Length: not 32 }) throw new BuiltinException($"{fn}: invalid Ed25519 key: keys are 32 bytes");
        return new JwtKey(null, null, alg, kid, new Ed25519Key(publicKey, seed));
    }

    /// <summary>The raw key of an Ed25519 SubjectPublicKeyInfo (RFC 8410), or null for another algorithm.</summary>
    private static byte[]? Ed25519PublicKey(byte[] spki)
    {
        try
        {
            var seq = new System.Formats.Asn1.AsnReader(spki, System.Formats.Asn1.AsnEncodingRules.DER).ReadSequence();
            if (seq.ReadSequence().ReadObjectIdentifier() != Ed25519Oid) return null;
            return seq.ReadBitString(out _);
        }
        catch (System.Formats.Asn1.AsnContentException)
        {
            return null;
        }
    }

    private static string? OptString(ObjectValue o, string key, string fn) => o.Get(key) switch
    {
        null => null,
        StringValue s => s.V,
        var v => throw new BuiltinException($"{fn}: JWK \"{key}\" must be a string, got {Value.TypeName(v)}"),
    };

    private static byte[] B64(ObjectValue o, string key, string fn)
    {
        var s = OptString(o, key, fn) ?? throw new BuiltinException($"{fn}: JWK is missing \"{key}\"");
        return EncodingBuiltins.TryBase64(s, url: true, out var bytes) ? bytes : throw new BuiltinException($"{fn}: JWK \"{key}\" is not base64url");
    }

    /// <summary>Verifies a JWS signature over <paramref name="signingInput"/>; false for a key of another type.</summary>
    public bool Verify(string alg, byte[] signingInput, byte[] signature)
    {
        try
        {
            return (alg[..2], Asymmetric) switch
            {
                ("HS", _) when Secret is not null => CryptographicOperations.FixedTimeEquals(Hmac(alg, Secret, signingInput), signature),
                ("RS", RSA rsa) => rsa.VerifyData(signingInput, signature, Hash(alg), RSASignaturePadding.Pkcs1),
                ("PS", RSA rsa) => rsa.VerifyData(signingInput, signature, Hash(alg), RSASignaturePadding.Pss),
                ("ES", ECDsa ec) => ec.VerifyData(signingInput, signature, Hash(alg), DSASignatureFormat.IeeeP1363FixedFieldConcatenation),
                ("Ed", _) when Ed25519 is not null => signature.Length == Org.BouncyCastle.Math.EC.Rfc8032.Ed25519.SignatureSize
                    && Org.BouncyCastle.Math.EC.Rfc8032.Ed25519.Verify(signature, 0, Ed25519.Public, 0, signingInput, 0, signingInput.Length),
                _ => false,
            };
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    /// <summary>Signs with the key's private part (or HMAC secret); an error names what is missing.</summary>
    public byte[] Sign(string alg, byte[] signingInput, string fn)
    {
        try
        {
            return (alg[..2], Asymmetric) switch
            {
                ("HS", _) when Secret is not null => Hmac(alg, Secret, signingInput),
                ("RS", RSA rsa) => rsa.SignData(signingInput, Hash(alg), RSASignaturePadding.Pkcs1),
                ("PS", RSA rsa) => rsa.SignData(signingInput, Hash(alg), RSASignaturePadding.Pss),
                ("ES", ECDsa ec) => ec.SignData(signingInput, Hash(alg), DSASignatureFormat.IeeeP1363FixedFieldConcatenation),
                ("Ed", _) when Ed25519?.Private is { } seed => SignEd25519(seed, signingInput),
                _ => throw new BuiltinException($"{fn}: the key does not fit algorithm {alg}"),
            };
        }
        catch (CryptographicException e)
        {
            throw new BuiltinException($"{fn}: failed to sign with {alg}: {e.Message}");
        }
    }

    private static byte[] SignEd25519(byte[] seed, byte[] message)
    {
        var signature = new byte[Org.BouncyCastle.Math.EC.Rfc8032.Ed25519.SignatureSize];
        Org.BouncyCastle.Math.EC.Rfc8032.Ed25519.Sign(seed, 0, message, 0, message.Length, signature, 0);
        return signature;
    }

    private static HashAlgorithmName Hash(string alg) => alg[2..] switch
    {
        "256" => HashAlgorithmName.SHA256,
        "384" => HashAlgorithmName.SHA384,
        _ => HashAlgorithmName.SHA512,
    };

    public static byte[] Hmac(string alg, byte[] key, byte[] data) => alg[2..] switch
    {
        "256" => HMACSHA256.HashData(key, data),
        "384" => HMACSHA384.HashData(key, data),
        _ => HMACSHA512.HashData(key, data),
    };

    public static byte[] Ascii(string s) => Encoding.ASCII.GetBytes(s);
}
