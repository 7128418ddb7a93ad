using System.IO.Compression;

namespace Sandbox.Isolation.Images;

/// <summary>Opens a layer blob as its tar stream, choosing the decompressor by the content's magic bytes (gzip,
/// zstd, or none), not by a media type the manifest could get wrong.</summary>
internal static class LayerCompression
{
    public static Stream OpenTar(Stream blob, string what)
    {
        if (!blob.CanSeek)
            throw new ArgumentException("a layer blob must be seekable", nameof(blob));
        Span<byte> magic = stackalloc byte[4];
        var n = blob.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
        blob.Position = 0;
        if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b)
            return new GZipStream(blob, CompressionMode.Decompress, leaveOpen: false);
        if (n == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
            return new ZstdSharp.DecompressionStream(blob, leaveOpen: false);
        if (n >= 2 && magic[0] == 0x42 && magic[1] == 0x5a)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"{what} is bzip2-compressed; layers may be plain tar, gzip or zstd");
        if (n >= 4 && magic[0] == 0xfd && magic[1] == 0x37 && magic[2] == 0x7a && magic[3] == 0x58)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"{what} is xz-compressed; layers may be plain tar, gzip or zstd");
        return blob;
    }
}
