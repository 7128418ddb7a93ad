using System.Security.Cryptography;
using System.Text.Json;

namespace Sandbox.Isolation.Images;

/// <summary>A plain root file system tarball (plain, gzip or zstd) as a one-layer image; its config is made here:
/// linux/amd64, the given defaults (a standard PATH when none), and the layer's diff id.</summary>
internal sealed class RootfsTarSource(string file, ImageDefaults? defaults, ImageLimits limits) : IImageSource
{
    private byte[]? _config;

    public string Description => $"rootfs tarball {file}";

    public async Task<SourceManifest> ResolveAsync(CancellationToken cancellationToken)
    {
        var info = new FileInfo(file);
        ImageDigest blobDigest, diffId;
        await using (var stream = info.OpenRead())
            blobDigest = ImageDigest.FromHash(await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false));
        await using (var stream = info.OpenRead())
        {
            using var tar = new BoundedStream(LayerCompression.OpenTar(stream, Description), limits.MaxUnpackedBytes,
                l => $"{Description} decompresses to more than the {l} bytes an image may unpack to (decompression bomb?)");
            await tar.DrainAsync(cancellationToken).ConfigureAwait(false);
            diffId = tar.Digest();
        }
        var d = defaults ?? new ImageDefaults();
        var config = new OciImageConfig
        {
            Architecture = PlatformSelector.Architecture,
            Os = PlatformSelector.Os,
            Config = new OciRuntimeConfig
            {
                Env = d.Env.Count > 0 ? d.Env : ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                Cmd = d.Cmd.Count > 0 ? d.Cmd : null,
                Entrypoint = d.Entrypoint.Count > 0 ? d.Entrypoint : null,
                WorkingDir = d.WorkingDir,
                User = d.User,
            },
            Rootfs = new OciRootfs { Type = "layers", DiffIds = [diffId.ToString()] },
        };
        _config = JsonSerializer.SerializeToUtf8Bytes(config, OciJson.Default.OciImageConfig);
        return new SourceManifest(null,
            new OciDescriptor { MediaType = OciMediaTypes.OciConfig, Digest = ImageDigest.Of(_config).ToString(), Size = _config.Length },
            [new OciDescriptor { MediaType = OciMediaTypes.OciLayerTar, Digest = blobDigest.ToString(), Size = info.Length }],
            []);
    }

    public Task<Stream> OpenBlobAsync(OciDescriptor descriptor, CancellationToken cancellationToken)
        => Task.FromResult<Stream>(descriptor.MediaType == OciMediaTypes.OciConfig
            ? new MemoryStream(_config ?? throw new InvalidOperationException("ResolveAsync first"), writable: false)
            : File.OpenRead(file));
}
