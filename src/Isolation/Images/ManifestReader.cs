namespace Sandbox.Isolation.Images;

/// <summary>Checks a parsed image manifest before anything it names is fetched: schema 2, a config descriptor, layers
/// of known media types with digests and sizes that are not negative.</summary>
internal static class ManifestReader
{
    public static SourceManifest ToSource(OciManifest manifest, ImageDigest digest, IReadOnlyList<string> names, string source)
    {
        var what = $"{source}: manifest {digest}";
        var errors = new List<string>();
        if (manifest.SchemaVersion != 2)
            errors.Add($"schemaVersion {manifest.SchemaVersion} (only 2 is accepted)");
        if (manifest.Config is not { } config || !ImageDigest.TryParse(config.Digest, out _) || config.Size < 0)
            errors.Add("no valid config descriptor");
        var layers = manifest.Layers ?? [];
        for (var i = 0; i < layers.Count; i++)
        {
            if (!ImageDigest.TryParse(layers[i].Digest, out _))
                errors.Add($"layers[{i}].digest '{layers[i].Digest}' is not sha256:<64 hex>");
            if (layers[i].Size < 0)
                errors.Add($"layers[{i}].size {layers[i].Size} is negative");
            if (layers[i].MediaType is { } type && !OciMediaTypes.IsLayer(type))
                errors.Add($"layers[{i}].mediaType '{type}' is not a tar, tar+gzip or tar+zstd layer");
        }
        if (errors.Count > 0)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"{what} is refused: {string.Join("; ", errors)}");
        return new SourceManifest(digest, manifest.Config!, layers, names);
    }
}
