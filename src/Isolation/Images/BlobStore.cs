namespace Sandbox.Isolation.Images;

/// <summary>Content-addressed blobs (blobs/sha256/&lt;hex&gt;). A blob is written to a temp file while its digest and
/// size are checked, and renamed into place only when both match what its descriptor says; so every file under
/// blobs/ is exactly the content its name claims.</summary>
public sealed class BlobStore
{
    private readonly string _directory;
    private readonly ImageLimits _limits;

    public BlobStore(string storeRoot, ImageLimits limits)
    {
        _directory = Path.Combine(storeRoot, "blobs", ImageDigest.Algorithm);
        _limits = limits;
        Directory.CreateDirectory(_directory);
    }

    public string PathOf(ImageDigest digest) => Path.Combine(_directory, digest.Hex);

    public bool Contains(ImageDigest digest) => File.Exists(PathOf(digest));

    public Stream Open(ImageDigest digest) => new FileStream(PathOf(digest), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: false);

    /// <summary>Stores <paramref name="source"/> as <paramref name="expected"/>. <paramref name="expectedSize"/> is what
    /// the descriptor claims (negative: not known, then only <see cref="ImageLimits.MaxBlobBytes"/> bounds it).</summary>
    /// <param name="what">Names the blob in errors ("layer 2 of manifest sha256:…").</param>
    public async Task<string> IngestAsync(Stream source, ImageDigest expected, long expectedSize, string what, CancellationToken cancellationToken)
    {
        var path = PathOf(expected);
        if (File.Exists(path))
            return path;
        if (expectedSize > _limits.MaxBlobBytes)
            throw new SandboxException(SandboxErrorCode.ResourceExhausted,
                $"{what} ({expected}) claims {expectedSize} bytes; the store takes blobs of at most {_limits.MaxBlobBytes} bytes");
        var limit = expectedSize >= 0 ? expectedSize : _limits.MaxBlobBytes;
        var temp = Path.Combine(_directory, $".tmp-{Guid.NewGuid():N}");
        try
        {
            using (var bounded = new BoundedStream(source, limit, l => expectedSize >= 0
                       ? $"{what} ({expected}) is larger than the {l} bytes its descriptor says"
                       : $"{what} ({expected}) is larger than the store's limit of {l} bytes"))
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: false))
            {
                await bounded.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
                if (expectedSize >= 0 && bounded.BytesRead != expectedSize)
                    throw new SandboxException(SandboxErrorCode.InvalidArgument,
                        $"{what} ({expected}) is {bounded.BytesRead} bytes, not the {expectedSize} bytes its descriptor says");
                var actual = bounded.Digest();
                if (actual != expected)
                    throw new SandboxException(SandboxErrorCode.InvalidArgument,
                        $"{what}: digest mismatch, the content is {actual} but it was named {expected}");
            }
            File.Move(temp, path, overwrite: true);
            return path;
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>Stores a blob whose digest is not known in advance under the digest of its content (bounded by
    /// <paramref name="expectedSize"/> when known); the caller verifies it some other way.</summary>
    public async Task<ImageDigest> IngestByContentAsync(Stream source, long expectedSize, string what, CancellationToken cancellationToken)
    {
        var limit = expectedSize >= 0 ? Math.Min(expectedSize, _limits.MaxBlobBytes) : _limits.MaxBlobBytes;
        var temp = Path.Combine(_directory, $".tmp-{Guid.NewGuid():N}");
        try
        {
            ImageDigest digest;
            using (var bounded = new BoundedStream(source, limit, l => $"{what} is larger than {l} bytes"))
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: false))
            {
                await bounded.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
                digest = bounded.Digest();
            }
            File.Move(temp, PathOf(digest), overwrite: true);
            return digest;
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>Reads a small JSON document blob (manifest, index, config), bounded by <see cref="ImageLimits.MaxDocumentBytes"/>.</summary>
    public async Task<byte[]> ReadDocumentAsync(ImageDigest digest, string what, CancellationToken cancellationToken)
    {
        var info = new FileInfo(PathOf(digest));
        if (info.Length > _limits.MaxDocumentBytes)
            throw new SandboxException(SandboxErrorCode.ResourceExhausted,
                $"{what} ({digest}) is {info.Length} bytes; documents of at most {_limits.MaxDocumentBytes} bytes are accepted");
        return await File.ReadAllBytesAsync(info.FullName, cancellationToken).ConfigureAwait(false);
    }

    public void Delete(ImageDigest digest) => File.Delete(PathOf(digest));

    public IEnumerable<ImageDigest> List()
    {
        foreach (var file in Directory.EnumerateFiles(_directory))
        {
            if (ImageDigest.TryParse(ImageDigest.Algorithm + ":" + Path.GetFileName(file), out var d))
                yield return d;
        }
    }
}
