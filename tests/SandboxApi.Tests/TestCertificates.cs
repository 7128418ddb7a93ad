using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Net.Client;

namespace Sandbox.SandboxApi.Tests;

/// <summary>Certificates a test makes for itself: a CA, a server certificate for 127.0.0.1 signed by it, and client
/// certificates (subject CN = tenant) signed by it or by another CA. Written as PEM files under a directory for the
/// server's config; the client side uses them directly.</summary>
internal sealed class TestCertificates : IDisposable
{
    private const string ServerAuth = "1.3.6.1.5.5.7.3.1";
    private const string ClientAuth = "1.3.6.1.5.5.7.3.2";

    public X509Certificate2 Ca { get; }
    public string CaFile { get; }
    public string ServerCertFile { get; }
    public string ServerKeyFile { get; }
    private readonly List<X509Certificate2> _made = [];

    public TestCertificates(string directory)
    {
        Ca = MakeCa("sandbox test CA");
        CaFile = Path.Combine(directory, "client-ca.pem");
        File.WriteAllText(CaFile, Ca.ExportCertificatePem());
        using var server = Issue(Ca, "127.0.0.1", ServerAuth, san: true);
        ServerCertFile = Path.Combine(directory, "server.pem");
        ServerKeyFile = Path.Combine(directory, "server.key");
        File.WriteAllText(ServerCertFile, server.ExportCertificatePem());
        File.WriteAllText(ServerKeyFile, server.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>A client certificate with subject CN=<paramref name="tenant"/>, signed by this CA (or by
    /// <paramref name="issuer"/>).</summary>
    public X509Certificate2 Client(string tenant, X509Certificate2? issuer = null, string usage = ClientAuth)
    {
        var cert = Issue(issuer ?? Ca, tenant, usage, san: false);
        _made.Add(cert);
        return cert;
    }

    /// <summary>Another CA, unrelated to the one the server trusts.</summary>
    public X509Certificate2 OtherCa()
    {
        var ca = MakeCa("some other CA");
        _made.Add(ca);
        return ca;
    }

    /// <summary>A gRPC channel to https://<paramref name="endpoint"/> that trusts only this CA for the server and
    /// presents <paramref name="client"/> (when given).</summary>
    public GrpcChannel Channel(string endpoint, X509Certificate2? client)
    {
        var ca = Ca;
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificates = client is null ? null : [client],
                RemoteCertificateValidationCallback = (_, cert, _, _) =>
                {
                    using var chain = new X509Chain();
                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.CustomTrustStore.Add(ca);
                    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    return cert is not null && chain.Build(new X509Certificate2(cert));
                },
            },
        };
        var options = new GrpcChannelOptions { HttpHandler = handler, MaxReceiveMessageSize = 4 << 20 };
        return GrpcChannel.ForAddress("https://" + endpoint, options);
    }

    /// <summary>A loopback TCP port free now (bound and released).</summary>
    public static int FreePort() => Sandbox.Tests.Common.LoopbackPort.Free();

    private static X509Certificate2 MakeCa(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + name, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
    }

    private static X509Certificate2 Issue(X509Certificate2 issuer, string cn, string usage, bool san)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + cn, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usage)], false));
        if (san)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(names.Build());
        }
        var serial = RandomNumberGenerator.GetBytes(12);
        using var signed = request.Create(issuer, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(2), serial);
        var withKey = signed.CopyWithPrivateKey(key);
        // A PKCS#12 round trip gives SslStream a certificate whose key it can use on Linux.
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    public void Dispose()
    {
        Ca.Dispose();
        foreach (var c in _made)
            c.Dispose();
    }
}
