namespace Sandbox.Isolation.Images;

/// <summary>Picks the linux/amd64 manifest of an image index (the only platform the sandbox runs).</summary>
internal static class PlatformSelector
{
    public const string Os = "linux";
    public const string Architecture = "amd64";

    public static OciDescriptor Choose(OciIndex index, string what)
    {
        var manifests = index.Manifests ?? [];
        var match = manifests.FirstOrDefault(m => m.Platform is { Os: Os, Architecture: Architecture } && OciMediaTypes.IsManifest(m.MediaType));
        if (match is not null)
            return match;
        var offered = string.Join(", ", manifests.Select(m => m.Platform is { } p ? $"{p.Os}/{p.Architecture}" : "(no platform)"));
        throw new SandboxException(SandboxErrorCode.NotFound,
            $"{what} has no {Os}/{Architecture} manifest; it offers: {(offered.Length > 0 ? offered : "nothing")}");
    }
}
