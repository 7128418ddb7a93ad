namespace Sandbox.Isolation.Images;

/// <summary>Ceilings that keep a hostile image from filling the host: every one is checked while reading, so a lie in
/// a header or manifest is caught when the bytes pass the limit, not after they were written.</summary>
public sealed record ImageLimits
{
    public static ImageLimits Default { get; } = new();

    /// <summary>Largest blob (compressed layer, config, manifest) the store takes, bytes. Default 8 GiB.</summary>
    public long MaxBlobBytes { get; init; } = 8L << 30;

    /// <summary>Largest manifest, index or config document, bytes. Default 4 MiB.</summary>
    public long MaxDocumentBytes { get; init; } = 4L << 20;

    /// <summary>Most bytes all layers of one image may decompress to (a decompression bomb stops here). Default 16 GiB.</summary>
    public long MaxUnpackedBytes { get; init; } = 16L << 30;

    /// <summary>Most tar entries all layers of one image may hold. Default 1,000,000.</summary>
    public int MaxEntries { get; init; } = 1_000_000;

    /// <summary>Most layers in one image. Default 128 (Docker's own limit is 127).</summary>
    public int MaxLayers { get; init; } = 128;
}
