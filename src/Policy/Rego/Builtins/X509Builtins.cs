using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Sandbox.Policy.Rego;

/// <summary>
/// crypto.x509.parse_certificates, parse_and_verify_certificates, parse_certificate_request, parse_keypair,
/// parse_rsa_private_key and crypto.parse_private_keys. Inputs are PEM text, or base64 of PEM or of DER, as OPA
/// accepts them; certificates come back in OPA's shape (<see cref="X509Json"/>). Verification builds the chain with
/// .NET's X509Chain against the first certificate as the only root, no system roots and no network (revocation is not
/// checked, as in OPA).
/// </summary>
internal static class X509Builtins
{
    public static void Register(BuiltinTable t)
    {
        t.Register("crypto.x509.parse_certificates", 1, (a, _) => new ArrayValue(
            Certificates(BuiltinTable.Str(a, 0, "crypto.x509.parse_certificates"), "crypto.x509.parse_certificates")
                .Select(d => (Value)X509Json.Certificate(d)).ToArray()));
        t.Register("crypto.x509.parse_and_verify_certificates", 1, (a, ctx) => ParseAndVerify(a, ctx));
        t.Register("crypto.x509.parse_certificate_request", 1, (a, _) => CertificateRequest(a));
        t.Register("crypto.x509.parse_keypair", 2, (a, _) => KeyPair(a));
        t.Register("crypto.x509.parse_rsa_private_key", 1, (a, _) => RsaPrivateKey(a));
        t.Register("crypto.parse_private_keys", 1, (a, _) => PrivateKeys(a));
    }

    /// <summary>PEM text as given, or the base64 of PEM or of DER decoded (Go's error text for bad base64).</summary>
    private static (string? Pem, byte[]? Der) Decode(string s, string fn)
    {
        if (s.StartsWith("-----BEGIN", StringComparison.Ordinal)) return (s, null);
        if (!EncodingBuiltins.TryBase64(s, url: false, out var bytes)) throw new BuiltinException($"{fn}: illegal base64 data");
        if (bytes.AsSpan().StartsWith("-----BEGIN"u8)) return (Encoding.UTF8.GetString(bytes), null);
        return (null, bytes);
    }

    /// <summary>The PEM blocks of a text, in order: (label, DER).</summary>
    private static List<(string Label, byte[] Der)> PemBlocks(string pem, string fn)
    {
        var blocks = new List<(string, byte[])>();
        var rest = pem.AsSpan();
        while (PemEncoding.TryFind(rest, out var fields))
        {
            var label = rest[fields.Label].ToString();
            var der = new byte[fields.DecodedDataLength];
            if (!Convert.TryFromBase64Chars(rest[fields.Base64Data], der, out _)) throw new BuiltinException($"{fn}: illegal base64 data in PEM block");
            blocks.Add((label, der));
            rest = rest[fields.Location.End..];
        }
        return blocks;
    }

    private static List<byte[]> Certificates(string s, string fn)
    {
        var (pem, der) = Decode(s, fn);
        if (pem is not null)
        {
            var blocks = PemBlocks(pem, fn);
            foreach (var (label, _) in blocks)
                if (label != "CERTIFICATE") throw new BuiltinException($"{fn}: PEM block type is '{label}', expected CERTIFICATE");
            return blocks.Select(b => b.Der).ToList();
        }
        // Concatenated DER certificates, as Go's x509.ParseCertificates reads them.
        var certs = new List<byte[]>();
        var reader = new System.Formats.Asn1.AsnReader(der, System.Formats.Asn1.AsnEncodingRules.DER);
        try
        {
            while (reader.HasData) certs.Add(reader.ReadEncodedValue().ToArray());
        }
        catch (System.Formats.Asn1.AsnContentException)
        {
            throw new BuiltinException($"{fn}: x509: malformed certificate");
        }
        return certs;
    }

    private static Value ParseAndVerify(Value[] a, BuiltinContext ctx)
    {
        const string fn = "crypto.x509.parse_and_verify_certificates";
        var invalid = new ArrayValue([Value.False, Value.EmptyArray]);
        List<byte[]> ders;
        try
        {
            ders = Certificates(BuiltinTable.Str(a, 0, fn), fn);
            foreach (var d in ders) X509Json.Certificate(d);
        }
        catch (BuiltinTypeException) { throw; }
        catch (BuiltinException) { return invalid; }
        if (ders.Count < 2) return invalid;
        var certs = new List<X509Certificate2>();
        try
        {
            foreach (var d in ders) certs.Add(X509CertificateLoader.LoadCertificate(d));
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(certs[0]);
            for (var i = 1; i < certs.Count - 1; i++) chain.ChainPolicy.ExtraStore.Add(certs[i]);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.DisableCertificateDownloads = true;
            chain.ChainPolicy.VerificationTime = DateTimeOffset.FromUnixTimeMilliseconds(ctx.NowNs / 1_000_000).UtcDateTime;
            if (!chain.Build(certs[^1])) return invalid;
            return new ArrayValue([Value.True, new ArrayValue(chain.ChainElements.Select(e => (Value)X509Json.Certificate(e.Certificate.RawData)).ToArray())]);
        }
        catch (CryptographicException)
        {
            return invalid;
        }
        finally
        {
            foreach (var c in certs) c.Dispose();
        }
    }

    private static Value CertificateRequest(Value[] a)
    {
        const string fn = "crypto.x509.parse_certificate_request";
        var (pem, der) = Decode(BuiltinTable.Str(a, 0, fn), fn);
        if (pem is not null)
        {
            var blocks = PemBlocks(pem, fn);
            if (blocks.Count == 0) throw new BuiltinException($"{fn}: failed to decode a PEM block");
            if (blocks[0].Label != "CERTIFICATE REQUEST") throw new BuiltinException($"{fn}: invalid PEM-encoded certificate signing request");
            der = blocks[0].Der;
        }
        try
        {
            return X509Json.CertificateRequest(der!);
        }
        catch (BuiltinException e)
        {
            throw new BuiltinException($"{fn}: {e.Message}");
        }
    }

    /// <summary>Go's tls.Certificate for a matching certificate and key; only its Certificate list (base64 DER) is returned.</summary>
    private static Value KeyPair(Value[] a)
    {
        const string fn = "crypto.x509.parse_keypair";
        var certs = Certificates(BuiltinTable.Str(a, 0, fn), fn);
        if (certs.Count == 0) throw new BuiltinException($"{fn}: tls: failed to find any PEM data in certificate input");
        using var key = PrivateKey(BuiltinTable.Str(a, 1, fn), fn) ?? throw new BuiltinException($"{fn}: tls: failed to find any PEM data in key input");
        using var leaf = X509CertificateLoader.LoadCertificate(certs[0]);
        if (!SamePublicKey(leaf, key)) throw new BuiltinException($"{fn}: tls: private key does not match public key");
        return new X509Json.Obj().Add("Certificate", new ArrayValue(certs.Select(c => (Value)Value.String(Convert.ToBase64String(c))).ToArray())).Build();
    }

    private static bool SamePublicKey(X509Certificate2 cert, AsymmetricAlgorithm key)
    {
        var certKey = cert.PublicKey.ExportSubjectPublicKeyInfo();
        return key switch
        {
            RSA rsa => certKey.AsSpan().SequenceEqual(rsa.ExportSubjectPublicKeyInfo()),
            ECDsa ec => certKey.AsSpan().SequenceEqual(ec.ExportSubjectPublicKeyInfo()),
            _ => false,
        };
    }

    /// <summary>The first private key of a PEM text (or its base64): PKCS #1, SEC 1 or PKCS #8.</summary>
    private static AsymmetricAlgorithm? PrivateKey(string s, string fn)
    {
        var (pem, _) = Decode(s, fn);
        if (pem is null) throw new BuiltinException($"{fn}: failed to find a PEM block");
        foreach (var (label, der) in PemBlocks(pem, fn))
        {
            var key = KeyFromBlock(label, der, fn);
            if (key is not null) return key;
        }
        return null;
    }

    private static AsymmetricAlgorithm? KeyFromBlock(string label, byte[] der, string fn)
    {
        try
        {
            switch (label)
            {
                case "RSA PRIVATE KEY":
                    var rsa = RSA.Create();
                    rsa.ImportRSAPrivateKey(der, out _);
                    return rsa;
                case "EC PRIVATE KEY":
                    var ec = ECDsa.Create();
                    ec.ImportECPrivateKey(der, out _);
                    return ec;
                case "PRIVATE KEY":
                    try
                    {
                        var r = RSA.Create();
                        r.ImportPkcs8PrivateKey(der, out _);
                        return r;
                    }
                    catch (CryptographicException)
                    {
                        var e = ECDsa.Create();
                        e.ImportPkcs8PrivateKey(der, out _);
                        return e;
                    }
                default:
                    return null;
            }
        }
        catch (CryptographicException e)
        {
            throw new BuiltinException($"{fn}: failed to parse the private key: {e.Message}");
        }
    }

    /// <summary>An RSA private key as a JWK (RFC 7518 §6.3: n, e, d, p, q, dp, dq, qi in base64url, minimal big-endian).</summary>
    private static Value RsaPrivateKey(Value[] a)
    {
        const string fn = "crypto.x509.parse_rsa_private_key";
        var (pem, _) = Decode(BuiltinTable.Str(a, 0, fn), fn);
        if (pem is null) throw new BuiltinException($"{fn}: failed to parse a PEM block containing the key");
        var blocks = PemBlocks(pem, fn);
        if (blocks.Count == 0) throw new BuiltinException($"{fn}: failed to parse a PEM block containing the key");
        using var key = KeyFromBlock(blocks[0].Label, blocks[0].Der, fn);
        if (key is not RSA rsa) throw new BuiltinException($"{fn}: the PEM block is not an RSA private key");
        var p = rsa.ExportParameters(includePrivateParameters: true);
        static Value U(byte[]? b) => Value.String(Base64Url(b!));
        return new X509Json.Obj()
            .Add("kty", Value.String("RSA")).Add("n", U(p.Modulus)).Add("e", U(p.Exponent)).Add("d", U(p.D))
            .Add("p", U(p.P)).Add("q", U(p.Q)).Add("dp", U(p.DP)).Add("dq", U(p.DQ)).Add("qi", U(p.InverseQ)).Build();
    }

    /// <summary>
    /// Every private key of a PEM text (or its base64), as Go's key structs marshal: RSA {N, E, D, Primes,
    /// Precomputed}, ECDSA {Curve: {}, X, Y, D}. An empty input is null, as in OPA.
    /// </summary>
    private static Value PrivateKeys(Value[] a)
    {
        const string fn = "crypto.parse_private_keys";
        var s = BuiltinTable.Str(a, 0, fn);
        if (s.Length == 0) return Value.Null;
        var (pem, _) = Decode(s, fn);
        if (pem is null) return Value.EmptyArray;
        var keys = new List<Value>();
        foreach (var (label, der) in PemBlocks(pem, fn))
        {
            using var key = KeyFromBlock(label, der, fn);
            switch (key)
            {
                case RSA rsa:
                    var p = rsa.ExportParameters(true);
                    keys.Add(new X509Json.Obj()
                        .Add("N", Big(p.Modulus)).Add("E", Big(p.Exponent)).Add("D", Big(p.D))
                        .Add("Primes", new ArrayValue([Big(p.P), Big(p.Q)]))
                        .Add("Precomputed", new X509Json.Obj().Add("Dp", Big(p.DP)).Add("Dq", Big(p.DQ)).Add("Qinv", Big(p.InverseQ))
                            .Add("CRTValues", Value.EmptyArray).Build())
                        .Build());
                    break;
                case ECDsa ec:
                    var e = ec.ExportParameters(true);
                    keys.Add(new X509Json.Obj().Add("Curve", Value.EmptyObject).Add("X", Big(e.Q.X)).Add("Y", Big(e.Q.Y)).Add("D", Big(e.D)).Build());
                    break;
            }
        }
        return new ArrayValue([.. keys]);
    }

    private static Value Big(byte[]? b) => NumberValue.Of(new BigInteger(b, isUnsigned: true, isBigEndian: true));

    private static string Base64Url(byte[] b)
    {
        var start = 0;
        while (start < b.Length - 1 && b[start] == 0) start++;
        return Convert.ToBase64String(b, start, b.Length - start).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }
}
