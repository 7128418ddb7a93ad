using System.Formats.Asn1;
using System.Globalization;
using System.Numerics;
using System.Text;

namespace Sandbox.Policy.Rego;

/// <summary>
/// An X.509 certificate or request as OPA returns it: Go's x509.Certificate / x509.CertificateRequest marshalled to
/// JSON (byte slices as base64, big integers as numbers, absent lists as null), plus OPA's <c>URIStrings</c>. The
/// fields produced are the ones whose Go encoding is plain data: raw DER parts, version, serial, names, validity,
/// algorithms, public key (RSA, ECDSA, Ed25519), key usages, basic constraints, key ids, subject alternative names,
/// AIA URLs, CRL distribution points, policy identifiers and the extension list. Name constraints, DSA keys and the
/// fields Go derives from them are left out (a reference to them is undefined, never a different value).
/// </summary>
internal static class X509Json
{
    private static readonly Dictionary<string, int> SignatureAlgorithms = new(StringComparer.Ordinal)
    {
        ["1.2.840.113549.1.1.2"] = 1, ["1.2.840.113549.1.1.4"] = 2, ["1.2.840.113549.1.1.5"] = 3, ["1.3.14.3.2.29"] = 3,
        ["1.2.840.113549.1.1.11"] = 4, ["1.2.840.113549.1.1.12"] = 5, ["1.2.840.113549.1.1.13"] = 6,
        ["1.2.840.10040.4.3"] = 7, ["2.16.840.1.101.3.4.3.2"] = 8,
        ["1.2.840.10045.4.1"] = 9, ["1.2.840.10045.4.3.2"] = 10, ["1.2.840.10045.4.3.3"] = 11, ["1.2.840.10045.4.3.4"] = 12,
        ["1.3.101.112"] = 16,
    };

    private static readonly Dictionary<string, int> ExtKeyUsages = new(StringComparer.Ordinal)
    {
        ["2.5.29.37.0"] = 0, ["1.3.6.1.5.5.7.3.1"] = 1, ["1.3.6.1.5.5.7.3.2"] = 2, ["1.3.6.1.5.5.7.3.3"] = 3,
        ["1.3.6.1.5.5.7.3.4"] = 4, ["1.3.6.1.5.5.7.3.5"] = 5, ["1.3.6.1.5.5.7.3.6"] = 6, ["1.3.6.1.5.5.7.3.7"] = 7,
        ["1.3.6.1.5.5.7.3.8"] = 8, ["1.3.6.1.5.5.7.3.9"] = 9, ["1.3.6.1.4.1.311.10.3.3"] = 10, ["2.16.840.1.113730.4.1"] = 11,
        ["1.3.6.1.4.1.311.2.1.22"] = 12, ["1.3.6.1.4.1.311.61.1.1"] = 13,
    };

    /// <summary>One DER certificate as OPA's JSON object; throws BuiltinException("x509: malformed certificate").</summary>
    public static ObjectValue Certificate(ReadOnlyMemory<byte> der)
    {
        try
        {
            var o = new Obj();
            var cert = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
            var tbsRaw = cert.PeekEncodedValue();
            var tbs = cert.ReadSequence();
            var sigAlg = cert.ReadSequence();
            var signature = cert.ReadBitString(out _);
            var version = 0;
            if (tbs.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 0)))
                version = (int)tbs.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0)).ReadInteger();
            var serial = tbs.ReadInteger();
            tbs.ReadSequence();
            var issuerRaw = tbs.ReadEncodedValue();
            var validity = tbs.ReadSequence();
            var notBefore = ReadTime(validity);
            var notAfter = ReadTime(validity);
            var subjectRaw = tbs.ReadEncodedValue();
            var spkiRaw = tbs.ReadEncodedValue();
            var ext = new Extensions();
            while (tbs.HasData)
            {
                var tag = tbs.PeekTag();
                if (tag.HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 3)))
                    ext.Read(tbs.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 3)).ReadSequence());
                else tbs.ReadEncodedValue();
            }

            o.Add("Raw", B64(der.Span));
            o.Add("RawTBSCertificate", B64(tbsRaw.Span));
            o.Add("RawSubjectPublicKeyInfo", B64(spkiRaw.Span));
            o.Add("RawSubject", B64(subjectRaw.Span));
            o.Add("RawIssuer", B64(issuerRaw.Span));
            o.Add("Signature", B64(signature));
            o.Add("SignatureAlgorithm", Num(SignatureAlgorithm(sigAlg)));
            AddPublicKey(o, spkiRaw);
            o.Add("Version", Num(version + 1));
            o.Add("SerialNumber", NumberValue.Of(serial));
            o.Add("Issuer", Name(issuerRaw));
            o.Add("Subject", Name(subjectRaw));
            o.Add("NotBefore", Value.String(GoTime(notBefore)));
            o.Add("NotAfter", Value.String(GoTime(notAfter)));
            ext.AddTo(o, certificate: true);
            return o.Build();
        }
        catch (Exception e) when (e is AsnContentException or System.Security.Cryptography.CryptographicException or ArgumentException or InvalidOperationException or OverflowException)
        {
            throw new BuiltinException("x509: malformed certificate");
        }
    }

    /// <summary>A DER certificate request (PKCS #10) as OPA's JSON object.</summary>
    public static ObjectValue CertificateRequest(ReadOnlyMemory<byte> der)
    {
        try
        {
            var o = new Obj();
            var csr = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
            var infoRaw = csr.PeekEncodedValue();
            var info = csr.ReadSequence();
            var sigAlg = csr.ReadSequence();
            var signature = csr.ReadBitString(out _);
            var version = (int)info.ReadInteger();
            var subjectRaw = info.ReadEncodedValue();
            var spkiRaw = info.ReadEncodedValue();
            var ext = new Extensions();
            if (info.HasData)
            {
                var attrs = info.ReadSetOf(true, new Asn1Tag(TagClass.ContextSpecific, 0));
                while (attrs.HasData)
                {
                    var attr = attrs.ReadSequence();
                    var oid = attr.ReadObjectIdentifier();
                    var values = attr.ReadSetOf(skipSortOrderValidation: true);
                    // PKCS #9 extensionRequest: the extensions the requester asks for.
                    if (oid == "1.2.840.113549.1.9.14") while (values.HasData) ext.Read(values.ReadSequence());
                }
            }
            o.Add("Raw", B64(der.Span));
            o.Add("RawTBSCertificateRequest", B64(infoRaw.Span));
            o.Add("RawSubjectPublicKeyInfo", B64(spkiRaw.Span));
            o.Add("RawSubject", B64(subjectRaw.Span));
            o.Add("Version", Num(version));
            o.Add("Signature", B64(signature));
            o.Add("SignatureAlgorithm", Num(SignatureAlgorithm(sigAlg)));
            AddPublicKey(o, spkiRaw);
            o.Add("Subject", Name(subjectRaw));
            ext.AddTo(o, certificate: false);
            return o.Build();
        }
        catch (Exception e) when (e is AsnContentException or ArgumentException or InvalidOperationException or OverflowException)
        {
            throw new BuiltinException($"asn1: structure error: {e.Message}");
        }
    }

    /// <summary>The extensions Go parses into fields, and the raw list.</summary>
    private sealed class Extensions
    {
        private readonly List<Value> _all = [];
        private long _keyUsage;
        private bool _bcValid, _isCA;
        private long _maxPathLen;
        private byte[]? _subjectKeyId, _authorityKeyId;
        private List<Value>? _dns, _email, _ip, _uri, _ocsp, _issuingUrl, _crl, _policies, _extKeyUsage, _unknownExtKeyUsage;

        public void Read(AsnReader seq)
        {
            while (seq.HasData)
            {
                var e = seq.ReadSequence();
                var oid = e.ReadObjectIdentifier();
                var critical = e.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean) && e.ReadBoolean();
                var value = e.ReadOctetString();
                _all.Add(new Obj().Add("Id", Oid(oid)).Add("Critical", Value.Bool(critical)).Add("Value", B64(value)).Build());
                Parse(oid, value);
            }
        }

        private void Parse(string oid, byte[] value)
        {
            var r = new AsnReader(value, AsnEncodingRules.DER);
            switch (oid)
            {
                case "2.5.29.15":
                    var bits = r.ReadBitString(out var unused);
                    for (var i = 0; i < 9 && i < (bits.Length * 8) - unused; i++)
                        if ((bits[i / 8] & (0x80 >> (i % 8))) != 0) _keyUsage |= 1L << i;
                    break;
                case "2.5.29.19":
                    var bc = r.ReadSequence();
                    _bcValid = true;
                    _isCA = bc.HasData && bc.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean) && bc.ReadBoolean();
                    _maxPathLen = bc.HasData ? (long)bc.ReadInteger() : -1;
                    break;
                case "2.5.29.17":
                    ReadGeneralNames(r.ReadSequence(), _dns ??= [], _email ??= [], _ip ??= [], _uri ??= []);
                    if (_dns.Count == 0) _dns = null;
                    if (_email.Count == 0) _email = null;
                    if (_ip.Count == 0) _ip = null;
                    if (_uri.Count == 0) _uri = null;
                    break;
                case "2.5.29.37":
                    var eku = r.ReadSequence();
                    while (eku.HasData)
                    {
                        var u = eku.ReadObjectIdentifier();
                        if (ExtKeyUsages.TryGetValue(u, out var known)) (_extKeyUsage ??= []).Add(Num(known));
                        else (_unknownExtKeyUsage ??= []).Add(Oid(u));
                    }
                    break;
                case "2.5.29.14":
                    _subjectKeyId = r.ReadOctetString();
                    break;
                case "2.5.29.35":
                    var aki = r.ReadSequence();
                    if (aki.HasData && aki.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 0)))
                        _authorityKeyId = aki.ReadOctetString(new Asn1Tag(TagClass.ContextSpecific, 0));
                    break;
                case "1.3.6.1.5.5.7.1.1":
                    var aia = r.ReadSequence();
                    while (aia.HasData)
                    {
                        var ad = aia.ReadSequence();
                        var method = ad.ReadObjectIdentifier();
                        var tag = ad.PeekTag();
                        if (!tag.HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 6))) { ad.ReadEncodedValue(); continue; }
                        var url = Value.String(Ascii(ad.ReadOctetString(new Asn1Tag(TagClass.ContextSpecific, 6))));
                        if (method == "1.3.6.1.5.5.7.48.1") (_ocsp ??= []).Add(url);
                        else if (method == "1.3.6.1.5.5.7.48.2") (_issuingUrl ??= []).Add(url);
                    }
                    break;
                case "2.5.29.31":
                    var cdps = r.ReadSequence();
                    while (cdps.HasData)
                    {
                        var dp = cdps.ReadSequence();
                        if (!dp.HasData || !dp.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 0))) continue;
                        var name = dp.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0));
                        if (!name.HasData || !name.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 0))) continue;
                        var full = name.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0));
                        while (full.HasData)
                        {
                            var t = full.PeekTag();
                            if (t.HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 6)))
                                (_crl ??= []).Add(Value.String(Ascii(full.ReadOctetString(new Asn1Tag(TagClass.ContextSpecific, 6)))));
                            else full.ReadEncodedValue();
                        }
                    }
                    break;
                case "2.5.29.32":
                    var policies = r.ReadSequence();
                    while (policies.HasData) (_policies ??= []).Add(Oid(policies.ReadSequence().ReadObjectIdentifier()));
                    break;
            }
        }

        public void AddTo(Obj o, bool certificate)
        {
            o.Add("Extensions", List(_all.Count == 0 ? null : _all));
            if (certificate)
            {
                o.Add("KeyUsage", Num(_keyUsage));
                o.Add("ExtKeyUsage", List(_extKeyUsage));
                o.Add("UnknownExtKeyUsage", List(_unknownExtKeyUsage));
                o.Add("BasicConstraintsValid", Value.Bool(_bcValid));
                o.Add("IsCA", Value.Bool(_isCA));
                o.Add("MaxPathLen", Num(_maxPathLen));
                o.Add("MaxPathLenZero", Value.Bool(_bcValid && _maxPathLen == 0));
                o.Add("SubjectKeyId", _subjectKeyId is null ? Value.Null : B64(_subjectKeyId));
                o.Add("AuthorityKeyId", _authorityKeyId is null ? Value.Null : B64(_authorityKeyId));
                o.Add("OCSPServer", List(_ocsp));
                o.Add("IssuingCertificateURL", List(_issuingUrl));
                o.Add("CRLDistributionPoints", List(_crl));
                o.Add("PolicyIdentifiers", List(_policies));
            }
            o.Add("DNSNames", List(_dns));
            o.Add("EmailAddresses", List(_email));
            o.Add("IPAddresses", List(_ip));
            if (certificate) o.Add("URIStrings", List(_uri));
        }
    }

    private static void ReadGeneralNames(AsnReader names, List<Value> dns, List<Value> email, List<Value> ip, List<Value> uri)
    {
        while (names.HasData)
        {
            var tag = names.PeekTag();
            if (tag.TagClass != TagClass.ContextSpecific || tag.IsConstructed) { names.ReadEncodedValue(); continue; }
            var bytes = names.ReadOctetString(tag);
            switch (tag.TagValue)
            {
                case 1: email.Add(Value.String(Ascii(bytes))); break;
                case 2: dns.Add(Value.String(Ascii(bytes))); break;
                case 6: uri.Add(Value.String(Ascii(bytes))); break;
                case 7 when bytes.Length is 4 or 16: ip.Add(Value.String(new System.Net.IPAddress(bytes) is var a && a.IsIPv4MappedToIPv6 ? a.MapToIPv4().ToString() : a.ToString())); break;
            }
        }
    }

    /// <summary>Go's pkix.Name: the well-known attributes by field, every attribute in Names.</summary>
    private static ObjectValue Name(ReadOnlyMemory<byte> raw)
    {
        var fields = new Dictionary<string, List<Value>?>(StringComparer.Ordinal)
        {
            ["2.5.4.6"] = null, ["2.5.4.10"] = null, ["2.5.4.11"] = null, ["2.5.4.7"] = null, ["2.5.4.8"] = null, ["2.5.4.9"] = null, ["2.5.4.17"] = null,
        };
        string serial = "", cn = "";
        var names = new List<Value>();
        var rdns = new AsnReader(raw, AsnEncodingRules.DER).ReadSequence();
        while (rdns.HasData)
        {
            var set = rdns.ReadSetOf(skipSortOrderValidation: true);
            while (set.HasData)
            {
                var atv = set.ReadSequence();
                var oid = atv.ReadObjectIdentifier();
                var value = ReadString(atv);
                names.Add(new Obj().Add("Type", Oid(oid)).Add("Value", value is null ? Value.Null : Value.String(value)).Build());
                if (value is null) continue;
                if (oid == "2.5.4.3") cn = value;
                else if (oid == "2.5.4.5") serial = value;
                else if (fields.TryGetValue(oid, out var list)) (fields[oid] = list ?? []).Add(Value.String(value));
            }
        }
        return new Obj()
            .Add("Country", List(fields["2.5.4.6"])).Add("Organization", List(fields["2.5.4.10"]))
            .Add("OrganizationalUnit", List(fields["2.5.4.11"])).Add("Locality", List(fields["2.5.4.7"]))
            .Add("Province", List(fields["2.5.4.8"])).Add("StreetAddress", List(fields["2.5.4.9"]))
            .Add("PostalCode", List(fields["2.5.4.17"])).Add("SerialNumber", Value.String(serial)).Add("CommonName", Value.String(cn))
            .Add("Names", names.Count == 0 ? Value.Null : new ArrayValue([.. names])).Add("ExtraNames", Value.Null)
            .Build();
    }

    private static string? ReadString(AsnReader r)
    {
        var tag = r.PeekTag();
        if (tag.TagClass != TagClass.Universal) { r.ReadEncodedValue(); return null; }
        switch ((UniversalTagNumber)tag.TagValue)
        {
            case UniversalTagNumber.UTF8String or UniversalTagNumber.PrintableString or UniversalTagNumber.IA5String
                or UniversalTagNumber.NumericString or UniversalTagNumber.BMPString or UniversalTagNumber.UniversalString
                or UniversalTagNumber.VisibleString:
                return r.ReadCharacterString((UniversalTagNumber)tag.TagValue);
            case UniversalTagNumber.T61String:
                // Go reads T61String bytes as Latin-1.
                return Encoding.Latin1.GetString(r.ReadOctetString(new Asn1Tag(UniversalTagNumber.T61String)));
            default:
                r.ReadEncodedValue();
                return null;
        }
    }

    private static int SignatureAlgorithm(AsnReader alg)
    {
        var oid = alg.ReadObjectIdentifier();
        if (oid != "1.2.840.113549.1.1.10") return SignatureAlgorithms.GetValueOrDefault(oid);
        // RSASSA-PSS: the hash is in the parameters (Go knows SHA-256/384/512 only).
        if (!alg.HasData) return 0;
        var p = alg.ReadSequence();
        if (!p.HasData || !p.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 0))) return 0;
        return p.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0)).ReadSequence().ReadObjectIdentifier() switch
        {
            "2.16.840.1.101.3.4.2.1" => 13,
            "2.16.840.1.101.3.4.2.2" => 14,
            "2.16.840.1.101.3.4.2.3" => 15,
            _ => 0,
        };
    }

    /// <summary>PublicKeyAlgorithm and PublicKey as Go marshals them: RSA {N, E}, ECDSA {Curve: {}, X, Y}, Ed25519 bytes.</summary>
    private static void AddPublicKey(Obj o, ReadOnlyMemory<byte> spkiRaw)
    {
        var spki = new AsnReader(spkiRaw, AsnEncodingRules.DER).ReadSequence();
        var alg = spki.ReadSequence();
        var oid = alg.ReadObjectIdentifier();
        var key = spki.ReadBitString(out _);
        switch (oid)
        {
            case "1.2.840.113549.1.1.1":
                var rsa = new AsnReader(key, AsnEncodingRules.DER).ReadSequence();
                o.Add("PublicKeyAlgorithm", Num(1));
                o.Add("PublicKey", new Obj().Add("N", NumberValue.Of(rsa.ReadInteger())).Add("E", NumberValue.Of(rsa.ReadInteger())).Build());
                break;
            case "1.2.840.10045.2.1" when key.Length > 1 && key[0] == 4 && key.Length % 2 == 1:
                var half = (key.Length - 1) / 2;
                o.Add("PublicKeyAlgorithm", Num(3));
                o.Add("PublicKey", new Obj().Add("Curve", Value.EmptyObject)
                    .Add("X", NumberValue.Of(new BigInteger(key.AsSpan(1, half), isUnsigned: true, isBigEndian: true)))
                    .Add("Y", NumberValue.Of(new BigInteger(key.AsSpan(1 + half, half), isUnsigned: true, isBigEndian: true))).Build());
                break;
            case "1.3.101.112":
                o.Add("PublicKeyAlgorithm", Num(4));
                o.Add("PublicKey", B64(key));
                break;
            case "1.2.840.10040.4.1":
                o.Add("PublicKeyAlgorithm", Num(2));
                break;
            default:
                o.Add("PublicKeyAlgorithm", Num(0));
                o.Add("PublicKey", Value.Null);
                break;
        }
    }

    private static DateTimeOffset ReadTime(AsnReader r) =>
        r.PeekTag().HasSameClassAndValue(Asn1Tag.UtcTime) ? r.ReadUtcTime() : r.ReadGeneralizedTime();

    /// <summary>Go's time.Time JSON (RFC 3339 with the fraction only when there is one), in UTC.</summary>
    private static string GoTime(DateTimeOffset t)
    {
        var s = t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture);
        return s.TrimEnd('.') + "Z";
    }

    private static string Ascii(byte[] b) => Encoding.ASCII.GetString(b);

    private static Value B64(ReadOnlySpan<byte> b) => Value.String(Convert.ToBase64String(b));

    private static Value Num(long n) => NumberValue.Of(n);

    private static Value Oid(string dotted) =>
        new ArrayValue(dotted.Split('.').Select(p => (Value)NumberValue.Of(BigInteger.Parse(p, CultureInfo.InvariantCulture))).ToArray());

    private static Value List(List<Value>? items) => items is null ? Value.Null : new ArrayValue([.. items]);

    /// <summary>An object built field by field (keys unique).</summary>
    internal sealed class Obj
    {
        private readonly Dictionary<Value, Value> _map = [];
        public Obj Add(string key, Value value) { _map[Value.String(key)] = value; return this; }
        public ObjectValue Build() => new(_map);
    }
}
