using System.Text.Json;

namespace Sandbox.Isolation.Images;

/// <summary>An OCI image layout directory (oci-layout, index.json, blobs/sha256/…), as skopeo, buildah and
/// `docker save` (25+) write it. With several images in index.json, <c>tag</c> picks the one whose
/// org.opencontainers.image.ref.name matches.</summary>
internal sealed class OciLayoutSource(string directory, string? tag, ImageLimits limits) : IImageSource
{
    private const string RefNameAnnotation = "org.opencontainers.image.ref.name";

    public string Description => $"OCI layout {directory}";

    public static bool IsLayout(string directory) => File.Exists(Path.Combine(directory, "oci-layout"));

    public async Task<SourceManifest> ResolveAsync(CancellationToken cancellationToken)
    {
        var index = Parse<OciIndex>(await ReadDocumentAsync(Path.Combine(directory, "index.json"), "index.json", cancellationToken).ConfigureAwait(false),
            OciJson.Default.OciIndex, "index.json");
        var candidates = index.Manifests ?? [];
        if (tag is not null && candidates.Count > 1)
            candidates = candidates.Where(m => m.Annotations?.GetValueOrDefault(RefNameAnnotation) is { } r && (r == tag || r.EndsWith(":" + tag, StringComparison.Ordinal))).ToList();
        var descriptor = candidates.Count switch
        {
            1 => candidates[0],
            0 => throw new SandboxException(SandboxErrorCode.NotFound, tag is null
                ? $"{Description}: index.json lists no image"
                : $"{Description}: no image in index.json is named '{tag}' (annotation {RefNameAnnotation})"),
            _ => throw new SandboxException(SandboxErrorCode.InvalidArgument,
                $"{Description}: index.json lists {candidates.Count} images; name one with --name NAME:TAG whose tag matches its {RefNameAnnotation}"),
        };
        var names = descriptor.Annotations?.GetValueOrDefault(RefNameAnnotation) is { } refName ? new[] { refName } : [];
        for (var depth = 0; OciMediaTypes.IsIndex(descriptor.MediaType); depth++)
        {
            if (depth > 4)
                throw new SandboxException(SandboxErrorCode.InvalidArgument, $"{Description}: indexes nested more than 4 deep");
            var nested = Parse<OciIndex>(await ReadBlobDocumentAsync(descriptor, cancellationToken).ConfigureAwait(false), OciJson.Default.OciIndex, $"index {descriptor.Digest}");
            descriptor = PlatformSelector.Choose(nested, $"{Description}: index {descriptor.Digest}");
        }
        var manifestBytes = await ReadBlobDocumentAsync(descriptor, cancellationToken).ConfigureAwait(false);
        var manifest = Parse<OciManifest>(manifestBytes, OciJson.Default.OciManifest, $"manifest {descriptor.Digest}");
        return ManifestReader.ToSource(manifest, ImageDigest.Parse(descriptor.Digest ?? "", "manifest digest"), names, Description);
    }

    public Task<Stream> OpenBlobAsync(OciDescriptor descriptor, CancellationToken cancellationToken)
    {
        var digest = ImageDigest.Parse(descriptor.Digest ?? "", $"{Description}: blob digest");
        var path = Path.Combine(directory, "blobs", ImageDigest.Algorithm, digest.Hex);
        var info = new FileInfo(path);
        if (info.LinkTarget is not null)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"{Description}: blob {digest} is a symlink; blobs must be regular files");
        if (!info.Exists)
            throw new SandboxException(SandboxErrorCode.NotFound, $"{Description}: blob {digest} is missing (blobs/sha256/{digest.Hex})");
        return Task.FromResult<Stream>(info.OpenRead());
    }

    /// <summary>A document blob, read whole and checked against its descriptor (digest, size) before it is parsed.</summary>
    private async Task<byte[]> ReadBlobDocumentAsync(OciDescriptor descriptor, CancellationToken cancellationToken)
    {
        var digest = ImageDigest.Parse(descriptor.Digest ?? "", $"{Description}: document digest");
        if (descriptor.Size > limits.MaxDocumentBytes)
            throw new SandboxException(SandboxErrorCode.ResourceExhausted, $"{Description}: document {digest} claims {descriptor.Size} bytes; at most {limits.MaxDocumentBytes} are accepted");
        await using var stream = await OpenBlobAsync(descriptor, cancellationToken).ConfigureAwait(false);
        return await DocumentReader.ReadVerifiedAsync(stream, digest, descriptor.Size, limits, $"{Description}: document {digest}", cancellationToken).ConfigureAwait(false);
    }

    private async Task<byte[]> ReadDocumentAsync(string path, string what, CancellationToken cancellationToken)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is not null || !info.Exists)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"{Description}: {what} is missing or not a regular file");
        if (info.Length > limits.MaxDocumentBytes)
            throw new SandboxException(SandboxErrorCode.ResourceExhausted, $"{Description}: {what} is {info.Length} bytes; at most {limits.MaxDocumentBytes} are accepted");
        return await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
    }

    private T Parse<T>(byte[] json, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, string what)
        => DocumentReader.Parse(json, type, $"{Description}: {what}");
}
