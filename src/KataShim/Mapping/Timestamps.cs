using Google.Protobuf.WellKnownTypes;

namespace Sandbox.KataShim.Mapping;

/// <summary>containerd 1.6 decodes timestamps into Go's non-nullable time.Time: "not exited" is Go's zero time, which
/// an absent field also decodes to. Never send seconds = 0 (1970 would read as a real exit).</summary>
internal static class Timestamps
{
    public static Timestamp? From(DateTimeOffset? time) => time is { } t ? Timestamp.FromDateTimeOffset(t) : null;
}
