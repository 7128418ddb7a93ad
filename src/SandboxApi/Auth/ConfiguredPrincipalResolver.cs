using Sandbox.Core;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Sandbox.SandboxApi.Configuration;

namespace Sandbox.SandboxApi.Auth;

/// <summary>The production resolver: on the unix socket, the peer's uid (SO_PEERCRED) mapped to a tenant by
/// tenants[].uids; on TCP (TLS only), "authorization: Bearer TOKEN" whose SHA-256 is in tenants[].token_sha256.</summary>
public sealed class ConfiguredPrincipalResolver : IPrincipalResolver
{
    private readonly PeerCredentialTable _peers;
    private readonly Dictionary<int, string> _tenantByUid = [];
    private readonly List<(byte[] Hash, string Tenant)> _tokens = [];

    public ConfiguredPrincipalResolver(SandboxdConfig config, PeerCredentialTable peers)
    {
        _peers = peers;
        foreach (var t in config.Tenants)
        {
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
        var header = context.Request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            return null;
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(header[scheme.Length..].Trim()));
        foreach (var (expected, tenant) in _tokens)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, expected))
                return new Principal(tenant, "token:" + Convert.ToHexStringLower(hash)[..8]);
        }
        return null;
    }
}
