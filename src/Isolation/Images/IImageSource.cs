namespace Sandbox.Isolation.Images;

/// <summary>Where an image's documents and blobs come from (an OCI layout, a `docker save` archive, a registry).
/// The importer trusts none of it: every blob is checked against its descriptor as it is stored.</summary>
internal interface IImageSource
{
    /// <summary>Names the source in errors and in the record ("oci layout /tmp/x", "registry host/busybox:1").</summary>
    string Description { get; }

    /// <summary>The image's manifest, chosen for linux/amd64 where the source holds an index.</summary>
    Task<SourceManifest> ResolveAsync(CancellationToken cancellationToken);

    /// <summary>The bytes of a blob the manifest names.</summary>
    Task<Stream> OpenBlobAsync(OciDescriptor descriptor, CancellationToken cancellationToken);
}

/// <param name="ManifestDigest">null where the source has no manifest document (`docker save`, a rootfs tar).</param>
/// <param name="Layers">A layer descriptor without a digest (a `docker save` layer file) is stored under the digest of
/// its content and verified through the config's diff id instead.</param>
/// <param name="Names">Names the source gives the image (OCI ref.name annotation, RepoTags).</param>
internal sealed record SourceManifest(ImageDigest? ManifestDigest, OciDescriptor Config, IReadOnlyList<OciDescriptor> Layers,
    IReadOnlyList<string> Names);
