namespace Sandbox.Isolation.Images;

/// <summary>An image in an OCI registry: the manifest by tag or digest; an index resolved to its linux/amd64 manifest
/// (fetched by digest and checked); blobs streamed into the store, which verifies them.</summary>
internal sealed class RegistrySource(RegistryClient client, RegistryReference reference, ImageLimits limits) : IImageSource
{
    public string Description => client.Description;

    public async Task<SourceManifest> ResolveAsync(CancellationToken cancellationToken)
    {
        var (content, mediaType, digest) = await client.GetManifestAsync(reference.ManifestReference, cancellationToken).ConfigureAwait(false);
        // The media type of the body decides (a registry's Content-Type is a hint); an index has "manifests".
        var index = DocumentReader.Parse(content, OciJson.Default.OciIndex, $"{Description}: manifest {digest}");
        if (index.Manifests is not null || OciMediaTypes.IsIndex(index.MediaType ?? mediaType))
        {
            var chosen = PlatformSelector.Choose(index, $"{Description}: index {digest}");
            var chosenDigest = ImageDigest.Parse(chosen.Digest ?? "", $"{Description}: index {digest} entry digest");
            (content, _, digest) = await client.GetManifestAsync(chosenDigest.ToString(), cancellationToken).ConfigureAwait(false);
            if (chosen.Size >= 0 && content.Length != chosen.Size)
                throw new SandboxException(SandboxErrorCode.InvalidArgument,
                    $"{Description}: manifest {chosenDigest} is {content.Length} bytes, not the {chosen.Size} bytes the index says");
        }
        if (content.Length > limits.MaxDocumentBytes)
            throw new SandboxException(SandboxErrorCode.ResourceExhausted, $"{Description}: manifest {digest} is larger than {limits.MaxDocumentBytes} bytes");
        var manifest = DocumentReader.Parse(content, OciJson.Default.OciManifest, $"{Description}: manifest {digest}");
        return ManifestReader.ToSource(manifest, digest, [], Description);
    }

    public async Task<Stream> OpenBlobAsync(OciDescriptor descriptor, CancellationToken cancellationToken)
        => await client.OpenBlobAsync(ImageDigest.Parse(descriptor.Digest ?? "", $"{Description}: blob digest"), cancellationToken).ConfigureAwait(false);
}
