using System.Runtime.InteropServices;
using System.Text.Json;

namespace Sandbox.Isolation.Images;

/// <summary>The local image store: import (OCI layout, OCI or `docker save` tarball, rootfs tarball), pull (an OCI
/// registry), list, inspect, remove, and resolve a name to its unpacked root. Layout under <see cref="Root"/> (0700):
/// blobs/sha256/&lt;hex&gt; (verified content), rootfs/&lt;chain id hex&gt; (unpacked once, shared read-only by every
/// sandbox of every image with that layer stack), images/&lt;config hex&gt;.json (records), tmp/ (work in progress).
/// Writers take an exclusive flock on store.lock, so two CLIs importing at once do not trip over each other.</summary>
public sealed class ImageStore
{
    private readonly ImageStoreOptions _options;
    private readonly BlobStore _blobs;

    public ImageStore(ImageStoreOptions options)
    {
        _options = options;
        Directory.CreateDirectory(options.Root);
        File.SetUnixFileMode(options.Root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        foreach (var sub in new[] { "images", "rootfs", "tmp" })
            Directory.CreateDirectory(Path.Combine(options.Root, sub));
        _blobs = new BlobStore(options.Root, options.Limits);
    }

    public string Root => _options.Root;

    internal BlobStore Blobs => _blobs;

    /// <summary>Imports FILE (an OCI or `docker save` tarball, or a plain rootfs tarball; plain, gzip or zstd) or DIR
    /// (an OCI layout). <paramref name="name"/> (NAME:TAG) names it; otherwise the names the source gives.</summary>
    public async Task<ImageRecord> ImportAsync(string path, string? name, IProgress<string>? progress, CancellationToken cancellationToken,
        ImageDefaults? rootfsDefaults = null)
    {
        ImageName? normalized = name is null ? null : ImageName.Parse(name);
        using var writeLock = await LockAsync(cancellationToken).ConfigureAwait(false);
        if (Directory.Exists(path))
        {
            if (OciLayoutSource.IsLayout(path))
                return await ImportFromAsync(new OciLayoutSource(path, normalized?.Tag, _options.Limits), normalized, progress, cancellationToken).ConfigureAwait(false);
            if (DockerArchiveSource.IsArchive(path))
                return await ImportFromAsync(new DockerArchiveSource(path, normalized?.ToString(), _options.Limits), normalized, progress, cancellationToken).ConfigureAwait(false);
            throw new SandboxException(SandboxErrorCode.InvalidArgument,
                $"{path} is a directory but not an OCI image layout (no oci-layout file) nor an unpacked `docker save` archive (no manifest.json)");
        }
        if (!File.Exists(path))
            throw new SandboxException(SandboxErrorCode.NotFound, $"{path}: no such file or directory to import");
        var kind = ImageArchive.Classify(path, _options.Limits);
        if (kind == ImageArchive.Kind.RootfsTarball)
            return await ImportFromAsync(new RootfsTarSource(path, rootfsDefaults, _options.Limits), normalized, progress, cancellationToken).ConfigureAwait(false);
        var unpacked = Path.Combine(Root, "tmp", "archive-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(unpacked);
        try
        {
            progress?.Report("reading the archive");
            await ImageArchive.ExtractAsync(path, unpacked, _options.Limits, cancellationToken).ConfigureAwait(false);
            IImageSource source = kind == ImageArchive.Kind.OciArchive
                ? new OciLayoutSource(unpacked, normalized?.Tag, _options.Limits)
                : new DockerArchiveSource(unpacked, normalized?.ToString(), _options.Limits);
            return await ImportFromAsync(source, normalized, progress, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Directory.Delete(unpacked, recursive: true);
        }
    }

    /// <summary>Pulls REF (HOST[:PORT]/NAME[:TAG|@DIGEST]) from an OCI distribution registry.</summary>
    public async Task<ImageRecord> PullAsync(string reference, string? name, IProgress<string>? progress, CancellationToken cancellationToken,
        HttpMessageHandler? handler = null)
    {
        var parsed = RegistryReference.Parse(reference);
        var normalized = name is null ? ImageName.Parse(parsed.LocalName) : ImageName.Parse(name);
        using var writeLock = await LockAsync(cancellationToken).ConfigureAwait(false);
        using var client = new RegistryClient(parsed, _options.Limits, handler);
        return await ImportFromAsync(new RegistrySource(client, parsed, _options.Limits), normalized, progress, cancellationToken).ConfigureAwait(false);
    }

    private async Task<ImageRecord> ImportFromAsync(IImageSource source, ImageName? name, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var record = await new ImageImporter(Root, _blobs, _options.Limits, progress)
            .ImportAsync(source, name?.ToString(), cancellationToken).ConfigureAwait(false);
        // A name points at one image: it moves from any other record to this one.
        var existing = ReadRecords(Root).FirstOrDefault(r => r.Id == record.Id);
        var names = record.Names.Union(existing?.Names ?? []).Distinct().ToList();
        foreach (var other in ReadRecords(Root).Where(r => r.Id != record.Id && r.Names.Intersect(names).Any()))
            WriteRecord(other with { Names = [.. other.Names.Except(names)] });
        record = record with { Names = names };
        WriteRecord(record);
        return record;
    }

    /// <summary>Gives an image one more name (taken from any image that had it).</summary>
    public async Task<ImageRecord> TagAsync(string nameOrId, string name, CancellationToken cancellationToken)
    {
        var normalized = ImageName.Parse(name).ToString();
        using var writeLock = await LockAsync(cancellationToken).ConfigureAwait(false);
        var record = Get(nameOrId);
        foreach (var other in ReadRecords(Root).Where(r => r.Id != record.Id && r.Names.Contains(normalized)))
            WriteRecord(other with { Names = [.. other.Names.Where(n => n != normalized)] });
        record = record with { Names = [.. record.Names.Union([normalized])] };
        WriteRecord(record);
        return record;
    }

    /// <summary>Records where an image came from (a build records its recipe key, to find it again).</summary>
    internal async Task<ImageRecord> SetSourceAsync(string id, string source, CancellationToken cancellationToken)
    {
        using var writeLock = await LockAsync(cancellationToken).ConfigureAwait(false);
        var record = Get(id) with { Source = source };
        WriteRecord(record);
        return record;
    }

    public IReadOnlyList<ImageRecord> List() => [.. ReadRecords(Root).OrderBy(r => r.Names.FirstOrDefault() ?? "~" + r.Id, StringComparer.Ordinal)];

    /// <summary>By NAME[:TAG], full id (sha256:…) or an id prefix of at least 12 hex digits.</summary>
    public ImageRecord? Find(string nameOrId)
    {
        var records = ReadRecords(Root);
        if (ImageDigest.TryParse(nameOrId, out var id))
            return records.FirstOrDefault(r => r.Id == id.ToString());
        if (nameOrId.Length >= 12 && nameOrId.All(char.IsAsciiHexDigitLower))
        {
            var matches = records.Where(r => r.Id[(ImageDigest.Algorithm.Length + 1)..].StartsWith(nameOrId, StringComparison.Ordinal)).ToList();
            if (matches.Count == 1)
                return matches[0];
        }
        var name = ImageName.Parse(nameOrId).ToString();
        return records.FirstOrDefault(r => r.Names.Contains(name));
    }

    public ImageRecord Get(string nameOrId) => Find(nameOrId)
        ?? throw new SandboxException(SandboxErrorCode.NotFound, $"image '{nameOrId}' is not in the store ({Root}); import, pull or build it first");

    /// <summary>The image's unpacked root (read-only for everyone but the store) and its record.</summary>
    public ResolvedImage Resolve(string nameOrId)
    {
        var record = Get(nameOrId);
        var directory = Path.Combine(Root, "rootfs", ImageDigest.Parse(record.RootfsKey, "rootfs key").Hex);
        if (!Directory.Exists(directory))
            throw new SandboxException(SandboxErrorCode.FailedPrecondition, $"image '{nameOrId}' ({record.Id}) lost its unpacked root {directory}; import it again");
        return new ResolvedImage(record, directory);
    }

    /// <summary>Removes the image's record, then its unpacked root and blobs that no remaining image uses.</summary>
    public async Task<ImageRecord> RemoveAsync(string nameOrId, CancellationToken cancellationToken)
    {
        using var writeLock = await LockAsync(cancellationToken).ConfigureAwait(false);
        var record = Get(nameOrId);
        File.Delete(RecordPath(record.Id));
        var remaining = ReadRecords(Root);
        if (remaining.All(r => r.RootfsKey != record.RootfsKey))
        {
            // Renamed first, so a sandbox starting now never sees a half-deleted root under the real name.
            var directory = Path.Combine(Root, "rootfs", ImageDigest.Parse(record.RootfsKey, "rootfs key").Hex);
            var doomed = Path.Combine(Root, "tmp", "removed-" + Guid.NewGuid().ToString("N"));
            if (Directory.Exists(directory))
            {
                Directory.Move(directory, doomed);
                Directory.Delete(doomed, recursive: true);
            }
        }
        var referenced = new HashSet<string>(StringComparer.Ordinal);
        foreach (var r in remaining)
            referenced.Add(r.Id);
        foreach (var blob in _blobs.List())
        {
            // Layer blobs are known by diff id only for uncompressed layers, so a blob is kept while any image's
            // record or manifest could name it: configs by id, layers by the manifests stored beside them.
            if (!referenced.Contains(blob.ToString()) && !remaining.Any(r => r.LayerBlobs.Contains(blob.ToString())))
                _blobs.Delete(blob);
        }
        return record;
    }

    internal static List<ImageRecord> ReadRecords(string root)
    {
        var records = new List<ImageRecord>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(root, "images"), "*.json"))
        {
            try
            {
                if (JsonSerializer.Deserialize(File.ReadAllBytes(file), OciJson.Default.ImageRecord) is { } record)
                    records.Add(record);
            }
            catch (JsonException)
            {
                // A record written by a newer or broken store is skipped, not fatal to listing the rest.
            }
        }
        return records;
    }

    private string RecordPath(string id) => Path.Combine(Root, "images", ImageDigest.Parse(id, "image id").Hex + ".json");

    private void WriteRecord(ImageRecord record)
    {
        var path = RecordPath(record.Id);
        var temp = path + ".tmp";
        File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(record, OciJson.Default.ImageRecord));
        File.Move(temp, path, overwrite: true);
    }

    private async Task<IDisposable> LockAsync(CancellationToken cancellationToken)
    {
        var file = new FileStream(Path.Combine(Root, "store.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite);
        try
        {
            // Blocking flock on a pool thread: the lock is held for an import's length, which no await would shorten.
            var fd = (int)file.SafeFileHandle.DangerousGetHandle();
            var errno = await Task.Run(() => Interop.Libc.Flock(fd, Interop.Libc.LOCK_EX) == 0 ? 0 : Marshal.GetLastPInvokeError(), cancellationToken)
                .ConfigureAwait(false);
            if (errno != 0)
                throw new SandboxException(SandboxErrorCode.Internal, $"locking {file.Name} failed: errno {errno}");
            return file;
        }
        catch
        {
            await file.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}

/// <param name="RootfsDirectory">The unpacked root, to be mounted read-only (never written by a sandbox).</param>
public sealed record ResolvedImage(ImageRecord Record, string RootfsDirectory)
{
    /// <summary>The stable key of this root: another tier may cache a derived form (an erofs image) under it.</summary>
    public string RootfsKey => Record.RootfsKey;
}
