using Sandbox.Core;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Sandbox.SandboxApi.Configuration;

namespace Sandbox.SandboxApi.Auth;

/// <summary>The production resolver: on the unix socket, the peer's uid (SO_PEERCRED) mapped to a tenant by
/// tenants[].uids; on TCP (TLS only), a client certificate (verified by Kestrel against listen.tls_client_ca) whose
/// subject CN is a listed tenant, else "authorization: Bearer TOKEN" whose SHA-256 is in tenants[].token_sha256.</summary>
public sealed class ConfiguredPrincipalResolver : IPrincipalResolver
{
    private readonly PeerCredentialTable _peers;
    private readonly Dictionary<int, string> _tenantByUid = [];
    private readonly List<(byte[] Hash, string Tenant)> _tokens = [];
    private readonly HashSet<string> _tenants = new(StringComparer.Ordinal);
    private readonly bool _clientCertificates;

    public ConfiguredPrincipalResolver(SandboxdConfig config, PeerCredentialTable peers)
    {
        _peers = peers;
        _clientCertificates = config.Listen.TlsClientCa is not null;
        foreach (var t in config.Tenants)
        {
            _tenants.Add(t.Name);
            foreach (var uid in t.Uids)
                _tenantByUid[uid] = t.Name;
            foreach (var hash in t.TokenSha256)
                _tokens.Add((Convert.FromHexString(hash), t.Name));
        }
    }

    public Principal? Resolve(HttpContext context)
    {
        if (_peers.Get(context.Connection.Id) is { } peer)
            return _tenantByUid.TryGetValue(peer.Uid, out var tenant) ? new Principal(tenant, $"uid:{peer.Uid}") : null;
        if (!context.Request.IsHttps)
            return null;
        if (_clientCertificates)
        {
            // Kestrel accepted the connection only with a certificate that chains to listen.tls_client_ca.
            return context.Connection.ClientCertificate is { } cert && ClientCertificateTrust.TenantOf(cert) is { } name && _tenants.Contains(name)
                ? new Principal(name, "cert:" + cert.Thumbprint[..8].ToLowerInvariant())
                : null;
        }
        var header = context.Request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            return null;
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(header[scheme.Length..].Trim()));
        // Constant time: every configured digest is compared in full (no early exit), so neither which entry matched
        // nor how much of a digest did shows in the time taken.
        string? match = null;
        foreach (var (expected, tenant) in _tokens)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, expected))
                match ??= tenant;
        }
        return match is null ? null : new Principal(match, "token:" + Convert.ToHexStringLower(hash)[..8]);
    }
}
