using System.Net;
using System.Text.RegularExpressions;

namespace Sandbox.Isolation.Images;

/// <summary>A registry reference, HOST[:PORT]/NAME[:TAG|@DIGEST]. The registry must be named: there is no default
/// registry. Loopback hosts (localhost, 127.0.0.0/8, ::1) are spoken to over plain HTTP, as Docker does; every other
/// host over HTTPS.</summary>
public sealed partial record RegistryReference(string Host, string Repository, string? Tag, ImageDigest? Digest)
{
    public bool IsLoopback => Host.Split(':')[0] is "localhost" || IPAddress.TryParse(Host.StartsWith('[') ? Host[1..Host.IndexOf(']')] : Host.Split(':')[0], out var ip) && IPAddress.IsLoopback(ip);

    public Uri BaseUri => new($"{(IsLoopback ? "http" : "https")}://{Host}/");

    /// <summary>The tag or digest a manifest is fetched by.</summary>
    public string ManifestReference => Digest?.ToString() ?? Tag ?? "latest";

    /// <summary>The local name the pulled image gets unless told otherwise.</summary>
    public string LocalName => $"{Host}/{Repository}:{Tag ?? (Digest is { } d ? "sha256-" + d.Short : "latest")}";

    public override string ToString() => $"{Host}/{Repository}" + (Digest is { } d ? "@" + d : ":" + (Tag ?? "latest"));

    public static RegistryReference Parse(string value)
    {
        var slash = value.IndexOf('/');
        var host = slash > 0 ? value[..slash] : "";
        if (host.Length == 0 || !(host.Contains('.') || host.Contains(':') || host == "localhost"))
            throw Bad(value, "it does not start with a registry HOST[:PORT]/ (there is no default registry)");
        var rest = value[(slash + 1)..];
        ImageDigest? digest = null;
        var at = rest.IndexOf('@');
        if (at >= 0)
        {
            digest = ImageDigest.Parse(rest[(at + 1)..], $"digest of '{value}'");
            rest = rest[..at];
        }
        string? tag = null;
        var colon = rest.LastIndexOf(':');
        if (colon > rest.LastIndexOf('/'))
        {
            tag = rest[(colon + 1)..];
            rest = rest[..colon];
        }
        if (!RepositoryPattern().IsMatch(rest))
            throw Bad(value, $"repository '{rest}' must be lowercase letters, digits and '._-/'");
        if (tag is not null && !TagPattern().IsMatch(tag))
            throw Bad(value, $"tag '{tag}' must be up to 128 of letters, digits and '_.-', not starting with '.' or '-'");
        if (!HostPattern().IsMatch(host))
            throw Bad(value, $"host '{host}' is not HOST[:PORT]");
        return new RegistryReference(host, rest, tag, digest);
    }

    private static SandboxException Bad(string value, string why)
        => new(SandboxErrorCode.InvalidArgument, $"image reference '{value}' is not HOST[:PORT]/NAME[:TAG|@sha256:DIGEST]: {why}");

    [GeneratedRegex(@"^[a-z0-9]+([._-][a-z0-9]+|__[a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+|__[a-z0-9]+)*)*$")]
    private static partial Regex RepositoryPattern();

    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex TagPattern();

    [GeneratedRegex(@"^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(:[0-9]{1,5})?$")]
    private static partial Regex HostPattern();
}
