using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Sandbox.Isolation;

/// <summary>Turns a driver's own attachment type into the opaque <see cref="SandboxAttachment"/> and back, with the
/// checks every driver needs: the right tier, a version it reads, a payload that parses.</summary>
internal static class AttachmentCodec
{
    public static SandboxAttachment Wrap<T>(SandboxTier tier, int version, T value, JsonTypeInfo<T> type) =>
        new(tier, version, JsonSerializer.Serialize(value, type));

    public static T Unwrap<T>(SandboxId id, SandboxAttachment attachment, SandboxTier tier, int version, JsonTypeInfo<T> type)
    {
        ArgumentNullException.ThrowIfNull(attachment);
        if (attachment.Tier != tier)
            throw new SandboxException(SandboxErrorCode.InvalidArgument,
                $"sandbox {id}: the attachment record is for the {attachment.Tier} tier; this driver takes back {tier} sandboxes only");
        if (attachment.Version != version)
            throw new SandboxException(SandboxErrorCode.FailedPrecondition,
                $"sandbox {id}: the {tier} attachment record has version {attachment.Version}; this driver reads version {version} only " +
                (attachment.Version < version ? "(written by an older sandboxd: the sandbox cannot be taken back and is reclaimed)"
                                              : "(written by a newer sandboxd: downgrading is not supported)"));
        try
        {
            return JsonSerializer.Deserialize(attachment.Payload, type)
                ?? throw new JsonException("the payload is null");
        }
        catch (JsonException e)
        {
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"sandbox {id}: the {tier} attachment record does not parse: {e.Message}", e);
        }
    }
}
