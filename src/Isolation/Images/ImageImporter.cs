namespace Sandbox.Isolation.Images;

/// <summary>Brings one image from a source into the store: config and layer blobs verified and stored, layers
/// unpacked once into rootfs/&lt;chain id&gt; (built in a temp directory, renamed into place; deleted on any failure),
/// the record written last. Reports progress as short lines.</summary>
internal sealed class ImageImporter(string storeRoot, BlobStore blobs, ImageLimits limits, IProgress<string>? progress)
{
    public async Task<ImageRecord> ImportAsync(IImageSource source, string? name, CancellationToken cancellationToken)
    {
        var manifest = await source.ResolveAsync(cancellationToken).ConfigureAwait(false);
        var what = source.Description;
        if (manifest.Layers.Count > limits.MaxLayers)
            throw new SandboxException(SandboxErrorCode.ResourceExhausted, $"{what}: {manifest.Layers.Count} layers; an image may have at most {limits.MaxLayers}");

        // Config: a small document, verified, then read for the diff ids and the runtime defaults.
        var configDigest = ImageDigest.Parse(manifest.Config.Digest ?? "", $"{what}: config digest");
        if (manifest.Config.Size > limits.MaxDocumentBytes)
            throw new SandboxException(SandboxErrorCode.ResourceExhausted, $"{what}: config {configDigest} claims {manifest.Config.Size} bytes; at most {limits.MaxDocumentBytes} are accepted");
        await using (var stream = await source.OpenBlobAsync(manifest.Config, cancellationToken).ConfigureAwait(false))
            await blobs.IngestAsync(stream, configDigest, manifest.Config.Size, $"{what}: config", cancellationToken).ConfigureAwait(false);
        var config = DocumentReader.Parse(await blobs.ReadDocumentAsync(configDigest, $"{what}: config", cancellationToken).ConfigureAwait(false),
            OciJson.Default.OciImageConfig, $"{what}: config {configDigest}");
        if (config.Os is { } os && os != PlatformSelector.Os || config.Architecture is { } arch && arch != PlatformSelector.Architecture)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"{what}: the image is for {config.Os}/{config.Architecture}; only {PlatformSelector.Os}/{PlatformSelector.Architecture} runs here");
        var diffIds = (config.Rootfs?.DiffIds ?? []).Select((d, i) => ImageDigest.Parse(d, $"{what}: config rootfs.diff_ids[{i}]")).ToList();
        if (diffIds.Count != manifest.Layers.Count)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"{what}: the config lists {diffIds.Count} diff ids for {manifest.Layers.Count} layers");

        // Layers: each blob stored under its digest (checked against digest and size while it is written).
        var layerDigests = new List<ImageDigest>();
        for (var i = 0; i < manifest.Layers.Count; i++)
        {
            var layer = manifest.Layers[i];
            var label = $"{what}: layer {i + 1} of {manifest.Layers.Count}";
            if (ImageDigest.TryParse(layer.Digest, out var digest) && blobs.Contains(digest))
            {
                layerDigests.Add(digest);
                continue;
            }
            progress?.Report($"fetching layer {i + 1}/{manifest.Layers.Count} ({FormatBytes(layer.Size)})");
            await using var stream = await source.OpenBlobAsync(layer, cancellationToken).ConfigureAwait(false);
            layerDigests.Add(layer.Digest is null
                ? await IngestByContentAsync(stream, layer.Size, label, cancellationToken).ConfigureAwait(false)
                : await IngestAsync(stream, digest, layer.Size, label, cancellationToken).ConfigureAwait(false));
        }

        // The unpacked root, once per chain id.
        var chain = ChainId.Of(diffIds);
        var rootfs = Path.Combine(storeRoot, "rootfs", chain.Hex);
        long unpacked = 0;
        var entries = 0;
        if (!Directory.Exists(rootfs))
            (unpacked, entries) = await UnpackAsync(rootfs, layerDigests, diffIds, what, cancellationToken).ConfigureAwait(false);
        else if (ImageStore.ReadRecords(storeRoot).FirstOrDefault(r => r.RootfsKey == chain.ToString()) is { } sibling)
            (unpacked, entries) = (sibling.UnpackedBytes, sibling.Entries);

        return new ImageRecord
        {
            Id = configDigest.ToString(),
            Names = name is not null ? [name] : [.. manifest.Names.Select(TryName).OfType<string>()],
            ManifestDigest = manifest.ManifestDigest?.ToString(),
            RootfsKey = chain.ToString(),
            DiffIds = [.. diffIds.Select(d => d.ToString())],
            LayerBlobs = [.. layerDigests.Select(d => d.ToString())],
            Architecture = config.Architecture,
            Os = config.Os,
            UnpackedBytes = unpacked,
            Entries = entries,
            Source = what,
            ImportedAt = DateTimeOffset.UtcNow,
            Defaults = ImageDefaults.From(config.Config),
        };
    }

    private async Task<(long Bytes, int Entries)> UnpackAsync(string rootfs, List<ImageDigest> layers, List<ImageDigest> diffIds, string what,
        CancellationToken cancellationToken)
    {
        var temp = Path.Combine(storeRoot, "tmp", "rootfs-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(temp);
        File.SetUnixFileMode(temp, (UnixFileMode)0b111_101_101);
        try
        {
            var applier = new LayerApplier(temp, limits);
            for (var i = 0; i < layers.Count; i++)
            {
                progress?.Report($"unpacking layer {i + 1}/{layers.Count}");
                var label = $"{what}: layer {i + 1} ({layers[i]})";
                await using var blob = blobs.Open(layers[i]);
                var diffId = await applier.ApplyAsync(blob, label, cancellationToken).ConfigureAwait(false);
                if (diffId != diffIds[i])
                    throw new SandboxException(SandboxErrorCode.InvalidArgument,
                        $"{label}: its uncompressed content is {diffId}, but the config's rootfs.diff_ids[{i}] says {diffIds[i]}");
            }
            Directory.CreateDirectory(Path.GetDirectoryName(rootfs)!);
            try
            {
                Directory.Move(temp, rootfs);
            }
            catch (IOException) when (Directory.Exists(rootfs))
            {
                // Another import unpacked the same chain meanwhile: theirs is identical; ours goes.
            }
            return (applier.UnpackedBytes, applier.Entries);
        }
        finally
        {
            if (Directory.Exists(temp))
                Directory.Delete(temp, recursive: true);
        }
    }

    /// <summary>A layer without a digest (`docker save`): stored under its content's digest; the diff id check at
    /// unpack time is what verifies it.</summary>
    private async Task<ImageDigest> IngestByContentAsync(Stream stream, long size, string label, CancellationToken cancellationToken)
        => await blobs.IngestByContentAsync(stream, size, label, cancellationToken).ConfigureAwait(false);

    private async Task<ImageDigest> IngestAsync(Stream stream, ImageDigest digest, long size, string label, CancellationToken cancellationToken)
    {
        await blobs.IngestAsync(stream, digest, size, label, cancellationToken).ConfigureAwait(false);
        return digest;
    }

    private static string? TryName(string value)
    {
        try
        {
            return ImageName.Parse(value).ToString();
        }
        catch (SandboxException)
        {
            return null; // an OCI ref.name that is only a tag ("latest") names no repository
        }
    }

    internal static string FormatBytes(long bytes) => bytes switch
    {
        < 0 => "size unknown",
        < 1 << 20 => $"{bytes / 1024.0:0.#} KiB",
        < 1 << 30 => $"{bytes / 1048576.0:0.#} MiB",
        _ => $"{bytes / 1073741824.0:0.##} GiB",
    };
}
