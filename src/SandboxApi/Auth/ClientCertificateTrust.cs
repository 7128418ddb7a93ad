using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Sandbox.SandboxApi.Auth;

/// <summary>Checks client certificates on the TCP listener against listen.tls_client_ca only (a custom root: the
/// system's CAs are never trusted for clients): the chain must end at one of the configured CA certificates, be
/// valid now, and the certificate must be usable for client authentication (EKU clientAuth, when it lists EKUs).</summary>
public sealed class ClientCertificateTrust
{
    private const string ClientAuthOid = "1.3.6.1.5.5.7.3.2";
    private readonly X509Certificate2Collection _roots;

    public ClientCertificateTrust(string caPemFile)
    {
        _roots = [];
        _roots.ImportFromPemFile(caPemFile);
        if (_roots.Count == 0)
            throw new ArgumentException($"listen.tls_client_ca: '{caPemFile}' holds no PEM certificate", nameof(caPemFile));
    }

    /// <summary>Kestrel's ClientCertificateValidation callback: the platform's verdict is ignored, the chain is built
    /// again against the configured roots.</summary>
    public bool Validate(X509Certificate2 certificate, X509Chain? _, SslPolicyErrors __)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new System.Security.Cryptography.Oid(ClientAuthOid));
        try
        {
            return chain.Build(certificate);
        }
        finally
        {
            foreach (var element in chain.ChainElements)
            {
                if (!ReferenceEquals(element.Certificate, certificate))
                    element.Certificate.Dispose();
            }
        }
    }

    /// <summary>The tenant a verified client certificate names: its subject's common name (CN). Null when it has none.</summary>
    public static string? TenantOf(X509Certificate2 certificate)
    {
        var cn = certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
        return string.IsNullOrEmpty(cn) ? null : cn;
    }
}
