using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Sandbox.Isolation.Images;

namespace Sandbox.Isolation.Tests.Images;

/// <summary>Builds layer tarballs and OCI layouts byte by byte, including the hostile ones a real tool would never
/// write (the point of the tests).</summary>
internal static class TestLayers
{
    public sealed record Entry(string Name, TarEntryType Type = TarEntryType.RegularFile, string Content = "", string? Link = null,
        UnixFileMode Mode = (UnixFileMode)0b110_100_100);

    public static Entry Dir(string name) => new(name, TarEntryType.Directory, Mode: (UnixFileMode)0b111_101_101);
    public static Entry File(string name, string content = "x", UnixFileMode mode = (UnixFileMode)0b110_100_100) => new(name, Content: content, Mode: mode);
    public static Entry Symlink(string name, string target) => new(name, TarEntryType.SymbolicLink, Link: target);
    public static Entry Hardlink(string name, string target) => new(name, TarEntryType.HardLink, Link: target);

    public static byte[] Tar(params Entry[] entries)
    {
        using var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var e in entries)
            {
                var entry = new PaxTarEntry(e.Type, e.Name) { Mode = e.Mode };
                if (e.Link is not null)
                    entry.LinkName = e.Link;
                if (e.Type == TarEntryType.RegularFile)
                    entry.DataStream = new MemoryStream(Encoding.UTF8.GetBytes(e.Content));
                writer.WriteEntry(entry);
            }
        }
        return buffer.ToArray();
    }

    public static byte[] Gzip(byte[] data)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
            gzip.Write(data);
        return buffer.ToArray();
    }

    public static byte[] Zstd(byte[] data)
    {
        using var compressor = new ZstdSharp.Compressor(3);
        return compressor.Wrap(data).ToArray();
    }

    public static string Digest(byte[] data) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(data));

    /// <summary>An OCI layout with one image; <paramref name="mutate"/> may lie in the manifest before it is written.</summary>
    public static string WriteLayout(string directory, IReadOnlyList<byte[]> uncompressedLayers, Func<byte[], byte[]>? compress = null,
        OciRuntimeConfig? runtime = null, Func<OciManifest, OciManifest>? mutate = null, Func<int, byte[], byte[]>? tamperBlob = null,
        string refName = "latest", IReadOnlyList<string>? diffIds = null, string architecture = "amd64")
    {
        compress ??= Gzip;
        var blobs = Path.Combine(directory, "blobs", "sha256");
        Directory.CreateDirectory(blobs);
        string Put(byte[] data, byte[]? stored = null)
        {
            var digest = Digest(data);
            System.IO.File.WriteAllBytes(Path.Combine(blobs, digest[7..]), stored ?? data);
            return digest;
        }
        var layers = new List<OciDescriptor>();
        for (var i = 0; i < uncompressedLayers.Count; i++)
        {
            var blob = compress(uncompressedLayers[i]);
            var digest = Put(blob, tamperBlob?.Invoke(i, blob));
            layers.Add(new OciDescriptor { MediaType = OciMediaTypes.OciLayerGzip, Digest = digest, Size = blob.Length });
        }
        var config = JsonSerializer.SerializeToUtf8Bytes(new OciImageConfig
        {
            Architecture = architecture, Os = "linux", Config = runtime ?? new OciRuntimeConfig { Env = ["PATH=/bin"], Cmd = ["/bin/sh"] },
            Rootfs = new OciRootfs { Type = "layers", DiffIds = [.. diffIds ?? uncompressedLayers.Select(Digest)] },
        }, OciJsonForTests.Default.OciImageConfig);
        var manifest = new OciManifest
        {
            SchemaVersion = 2, MediaType = OciMediaTypes.OciManifest,
            Config = new OciDescriptor { MediaType = OciMediaTypes.OciConfig, Digest = Put(config), Size = config.Length },
            Layers = layers,
        };
        manifest = mutate?.Invoke(manifest) ?? manifest;
        var manifestBytes = JsonSerializer.SerializeToUtf8Bytes(manifest, OciJsonForTests.Default.OciManifest);
        var index = new OciIndex
        {
            SchemaVersion = 2, MediaType = OciMediaTypes.OciIndex,
            Manifests = [new OciDescriptor
            {
                MediaType = OciMediaTypes.OciManifest, Digest = Put(manifestBytes), Size = manifestBytes.Length,
                Platform = new OciPlatform { Os = "linux", Architecture = architecture },
                Annotations = new() { ["org.opencontainers.image.ref.name"] = refName },
            }],
        };
        System.IO.File.WriteAllText(Path.Combine(directory, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
        System.IO.File.WriteAllBytes(Path.Combine(directory, "index.json"), JsonSerializer.SerializeToUtf8Bytes(index, OciJsonForTests.Default.OciIndex));
        return directory;
    }

    /// <summary>An OCI layout whose one image is an index of an arm64 and an amd64 image (in that order), each with
    /// one file "arch" holding its architecture.</summary>
    public static string WriteMultiArchLayout(string directory, string refName)
    {
        var entries = new List<OciDescriptor>();
        foreach (var arch in new[] { "arm64", "amd64" })
        {
            WriteLayout(directory, [Tar(File("arch", arch))], architecture: arch);
            var written = JsonSerializer.Deserialize(System.IO.File.ReadAllBytes(Path.Combine(directory, "index.json")), OciJsonForTests.Default.OciIndex)!;
            entries.Add(written.Manifests![0] with { Annotations = null });
        }
        var nested = JsonSerializer.SerializeToUtf8Bytes(new OciIndex { SchemaVersion = 2, MediaType = OciMediaTypes.OciIndex, Manifests = entries },
            OciJsonForTests.Default.OciIndex);
        var digest = Digest(nested);
        System.IO.File.WriteAllBytes(Path.Combine(directory, "blobs", "sha256", digest[7..]), nested);
        var top = new OciIndex
        {
            SchemaVersion = 2, MediaType = OciMediaTypes.OciIndex,
            Manifests = [new OciDescriptor { MediaType = OciMediaTypes.OciIndex, Digest = digest, Size = nested.Length,
                Annotations = new() { ["org.opencontainers.image.ref.name"] = refName } }],
        };
        System.IO.File.WriteAllBytes(Path.Combine(directory, "index.json"), JsonSerializer.SerializeToUtf8Bytes(top, OciJsonForTests.Default.OciIndex));
        return directory;
    }

    /// <summary>A directory tree as a tarball (for OCI archives and docker-save archives).</summary>
    public static void TarDirectory(string directory, string tarFile)
    {
        using var stream = System.IO.File.Create(tarFile);
        TarFile.CreateFromDirectory(directory, stream, includeBaseDirectory: false);
    }
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
[System.Text.Json.Serialization.JsonSerializable(typeof(OciIndex))]
[System.Text.Json.Serialization.JsonSerializable(typeof(OciManifest))]
[System.Text.Json.Serialization.JsonSerializable(typeof(OciImageConfig))]
[System.Text.Json.Serialization.JsonSerializable(typeof(List<DockerArchiveEntry>))]
internal sealed partial class OciJsonForTests : System.Text.Json.Serialization.JsonSerializerContext;

/// <summary>A fresh store in a temp directory, plus a sentinel directory beside it that no test may write into.</summary>
internal sealed class TempStore : IDisposable
{
    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("sandbox-images-").FullName;
    public ImageStore Store { get; }
    public string Outside => Path.Combine(Directory, "outside");
    public string Inputs => Path.Combine(Directory, "inputs");

    public TempStore(ImageLimits? limits = null)
    {
        System.IO.Directory.CreateDirectory(Outside);
        System.IO.Directory.CreateDirectory(Inputs);
        Store = new ImageStore(new ImageStoreOptions { Root = Path.Combine(Directory, "store"), Limits = limits ?? ImageLimits.Default });
    }

    public string NewInput(string name) => Path.Combine(Inputs, name);

    /// <summary>After a refused import: nothing outside the store, no half-built root, no temp leftovers.</summary>
    public void AssertNothingLeft()
    {
        Assert.Empty(System.IO.Directory.EnumerateFileSystemEntries(Outside));
        Assert.Empty(System.IO.Directory.EnumerateFileSystemEntries(Path.Combine(Store.Root, "rootfs")));
        Assert.Empty(System.IO.Directory.EnumerateFileSystemEntries(Path.Combine(Store.Root, "tmp")));
        Assert.Empty(System.IO.Directory.EnumerateFileSystemEntries(Path.Combine(Store.Root, "images")));
        Assert.Empty(System.IO.Directory.EnumerateFiles(Path.Combine(Store.Root, "blobs", "sha256"), ".tmp-*"));
    }

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}
