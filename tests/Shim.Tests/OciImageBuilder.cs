using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Sandbox.Shim.Tests;

/// <summary>An OCI image layout tarball of one uncompressed layer (so diff_id = digest), built from a directory:
/// what `ctr image import` takes. The index names the image (io.containerd.image.name).</summary>
public static class OciImageBuilder
{
    /// <param name="cmd">The image's command; null = /bin/sh.</param>
    public static void Build(string rootfs, string output, string name, string[]? cmd = null)
    {
        var layer = LayerTar(rootfs);
        var layerDigest = Digest(layer);
        var config = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["architecture"] = "amd64",
            ["os"] = "linux",
            ["config"] = new JsonObject { ["Env"] = new JsonArray("PATH=/bin"), ["Cmd"] = new JsonArray((cmd ?? ["/bin/sh"]).Select(c => (JsonNode)c!).ToArray()) },
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray(layerDigest) },
        }.ToJsonString());
        var manifest = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
            ["config"] = Descriptor("application/vnd.oci.image.config.v1+json", config),
            ["layers"] = new JsonArray(Descriptor("application/vnd.oci.image.layer.v1.tar", layer)),
        }.ToJsonString());
        var manifestDescriptor = Descriptor("application/vnd.oci.image.manifest.v1+json", manifest);
        manifestDescriptor["platform"] = new JsonObject { ["architecture"] = "amd64", ["os"] = "linux" };
        manifestDescriptor["annotations"] = new JsonObject
        {
            ["io.containerd.image.name"] = name,
            ["org.opencontainers.image.ref.name"] = name[(name.LastIndexOf(':') + 1)..],
        };
        var index = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.index.v1+json",
            ["manifests"] = new JsonArray(manifestDescriptor),
        }.ToJsonString());
        using var file = File.Create(output);
        using var tar = new TarWriter(file, TarEntryFormat.Pax);
        Add(tar, "oci-layout", Encoding.UTF8.GetBytes("{\"imageLayoutVersion\":\"1.0.0\"}"));
        Add(tar, "index.json", index);
        foreach (var blob in new[] { layer, config, manifest })
            Add(tar, "blobs/sha256/" + Digest(blob)["sha256:".Length..], blob);
    }

    private static byte[] LayerTar(string rootfs)
    {
        using var buffer = new MemoryStream();
        using (var tar = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var path in Directory.EnumerateFileSystemEntries(rootfs, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                var name = Path.GetRelativePath(rootfs, path);
                var info = new FileInfo(path);
                PaxTarEntry entry;
                if (info.LinkTarget is { } target)
                    entry = new PaxTarEntry(TarEntryType.SymbolicLink, name) { LinkName = target };
                else if (Directory.Exists(path))
                    entry = new PaxTarEntry(TarEntryType.Directory, name + "/");
                else
                    entry = new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = File.OpenRead(path) };
                entry.Mode = File.GetUnixFileMode(path);
                entry.Uid = 0;
                entry.Gid = 0;
                tar.WriteEntry(entry);
                entry.DataStream?.Dispose();
            }
        }
        return buffer.ToArray();
    }

    private static void Add(TarWriter tar, string name, byte[] data)
    {
        var entry = new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(data), Mode = (UnixFileMode)0b110_100_100 };
        tar.WriteEntry(entry);
    }

    private static string Digest(byte[] data) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(data));

    private static JsonObject Descriptor(string mediaType, byte[] data) =>
        new() { ["mediaType"] = mediaType, ["digest"] = Digest(data), ["size"] = data.Length };
}
