namespace Sandbox.Isolation.Images;

/// <summary>An unpacked `docker save` archive: manifest.json lists each image's config file, RepoTags and layer tar
/// files. Layer files carry no digest of their own here; each is verified through the config's diff id.</summary>
internal sealed class DockerArchiveSource(string directory, string? name, ImageLimits limits) : IImageSource
{
    public string Description => $"docker archive {directory}";

    public static bool IsArchive(string directory) => File.Exists(Path.Combine(directory, "manifest.json"));

    public async Task<SourceManifest> ResolveAsync(CancellationToken cancellationToken)
    {
        var path = Path.Combine(directory, "manifest.json");
        if (new FileInfo(path).Length > limits.MaxDocumentBytes)
            throw new SandboxException(SandboxErrorCode.ResourceExhausted, $"{Description}: manifest.json is larger than {limits.MaxDocumentBytes} bytes");
        var entries = DocumentReader.Parse(await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false),
            OciJson.Default.ListDockerArchiveEntry, $"{Description}: manifest.json");
        var candidates = name is null ? entries : entries.Where(e => e.RepoTags?.Contains(name) == true).ToList();
        var entry = candidates.Count switch
        {
            1 => candidates[0],
            0 => throw new SandboxException(SandboxErrorCode.NotFound, $"{Description}: manifest.json has no image{(name is null ? "" : $" tagged '{name}'")}"),
            _ => throw new SandboxException(SandboxErrorCode.InvalidArgument,
                $"{Description}: manifest.json lists {candidates.Count} images; name one with --name NAME:TAG from its RepoTags"),
        };
        if (entry.Config is null)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"{Description}: manifest.json names no Config file");
        var configInfo = FileIn(entry.Config);
        // The config's digest is that of its content; older archives also name the file after it.
        await using var configStream = configInfo.OpenRead();
        var configBytes = await DocumentReader.ReadVerifiedAsync(configStream, ContentDigest(configInfo), configInfo.Length, limits,
            $"{Description}: config {entry.Config}", cancellationToken).ConfigureAwait(false);
        var config = new OciDescriptor
        {
            MediaType = OciMediaTypes.DockerConfig, Digest = ImageDigest.Of(configBytes).ToString(), Size = configBytes.Length,
            Annotations = new() { ["path"] = entry.Config },
        };
        var layers = (entry.Layers ?? []).Select(l => new OciDescriptor { MediaType = null, Digest = null, Size = FileIn(l).Length, Annotations = new() { ["path"] = l } }).ToList();
        return new SourceManifest(null, config, layers, entry.RepoTags ?? []);
    }

    public Task<Stream> OpenBlobAsync(OciDescriptor descriptor, CancellationToken cancellationToken)
    {
        // Files are found through the path ResolveAsync recorded (the config and each layer).
        var file = descriptor.Annotations?.GetValueOrDefault("path")
            ?? throw new SandboxException(SandboxErrorCode.Internal, $"{Description}: blob {descriptor.Digest} has no file");
        return Task.FromResult<Stream>(FileIn(file).OpenRead());
    }

    /// <summary>A file the archive's manifest names: relative, no '..', no symlink on the way, a regular file.</summary>
    private FileInfo FileIn(string relative)
    {
        var parts = LayerApplier.SplitName(relative, $"{Description}: manifest.json");
        var path = directory;
        foreach (var part in parts)
        {
            path = Path.Combine(path, part);
            if (new FileInfo(path).LinkTarget is not null)
                throw new SandboxException(SandboxErrorCode.InvalidArgument, $"{Description}: '{relative}' goes through a symlink");
        }
        var info = new FileInfo(path);
        if (parts.Length == 0 || !info.Exists)
            throw new SandboxException(SandboxErrorCode.NotFound, $"{Description}: '{relative}' named in manifest.json is not a file of the archive");
        return info;
    }

    private static ImageDigest ContentDigest(FileInfo file)
    {
        using var stream = file.OpenRead();
        return ImageDigest.FromHash(System.Security.Cryptography.SHA256.HashData(stream));
    }
}
