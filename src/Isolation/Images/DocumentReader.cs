using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Sandbox.Isolation.Images;

/// <summary>Reads the small JSON documents of an image (index, manifest, config): bounded, verified against the
/// descriptor that named them, parsed with errors that name the document.</summary>
internal static class DocumentReader
{
    public static async Task<byte[]> ReadVerifiedAsync(Stream stream, ImageDigest digest, long declaredSize, ImageLimits limits, string what,
        CancellationToken cancellationToken)
    {
        var limit = declaredSize >= 0 ? Math.Min(declaredSize, limits.MaxDocumentBytes) : limits.MaxDocumentBytes;
        using var bounded = new BoundedStream(stream, limit, l => $"{what} is larger than {(declaredSize >= 0 ? "the " + l + " bytes its descriptor says" : "the " + l + "-byte document limit")}");
        using var buffer = new MemoryStream();
        await bounded.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (declaredSize >= 0 && bounded.BytesRead != declaredSize)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"{what} is {bounded.BytesRead} bytes, not the {declaredSize} bytes its descriptor says");
        var actual = bounded.Digest();
        if (actual != digest)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"{what}: digest mismatch, the content is {actual} but it was named {digest}");
        return buffer.ToArray();
    }

    public static T Parse<T>(byte[] json, JsonTypeInfo<T> type, string what)
    {
        try
        {
            return JsonSerializer.Deserialize(json, type) ?? throw new SandboxException(SandboxErrorCode.InvalidArgument, $"{what} is JSON null");
        }
        catch (JsonException e)
        {
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"{what} is not valid JSON: {e.Message}", e);
        }
    }
}
