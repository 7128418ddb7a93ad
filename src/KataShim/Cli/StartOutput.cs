using Google.Protobuf;

namespace Sandbox.KataShim.Cli;

/// <summary>What `start` prints, by what the calling containerd understands (the reference's version matrix):
/// - 1.6 (no MAX_SHIM_VERSION in the environment): the plain `unix:///…` address, the only form it parses;
/// - 1.7 and 2.0–2.2 (MAX_SHIM_VERSION set, options `Any` on stdin): `{"version":2,"address":…,"protocol":"ttrpc"}`
///   (task API v2; 1.7 refuses version 3);
/// - 2.3+ (stdin is a `containerd.runtime.bootstrap.v1.BootstrapParams` naming this id and namespace):
///   `{"version":3,…}`, the task API v3 (`containerd.task.v3.Task`, served beside v2 with identical messages).</summary>
internal static class StartOutput
{
    public static string Format(string address, IReadOnlyDictionary<string, string?> environment, ReadOnlySpan<byte> stdin, string id, string ns)
    {
        if (IsBootstrapParams(stdin, id, ns))
            return Json(3, address);
        return environment.TryGetValue("MAX_SHIM_VERSION", out var max) && int.TryParse(max, out var version) && version >= 2
            ? Json(2, address)
            : address;
    }

    private static string Json(int version, string address) =>
        $$"""{"version":{{version}},"address":"{{address.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)}}","protocol":"ttrpc"}""";

    /// <summary>2.3+ sends BootstrapParams (instance_id = 1, namespace = 2, both strings); older ones an `Any`
    /// (type_url = 1, value = 2), which starts the same way on the wire. Told apart as the reference says: the first
    /// two strings must be exactly this id and namespace.</summary>
    public static bool IsBootstrapParams(ReadOnlySpan<byte> stdin, string id, string ns)
    {
        if (stdin.IsEmpty)
            return false;
        try
        {
            var input = new CodedInputStream(stdin.ToArray());
            string? instance = null, space = null;
            uint tag;
            while ((tag = input.ReadTag()) != 0)
            {
                switch (WireFormat.GetTagFieldNumber(tag), WireFormat.GetTagWireType(tag))
                {
                    case (1, WireFormat.WireType.LengthDelimited):
                        instance = input.ReadString();
                        break;
                    case (2, WireFormat.WireType.LengthDelimited):
                        space = input.ReadString();
                        break;
                    default:
                        input.SkipLastField();
                        break;
                }
            }
            return instance == id && space == ns;
        }
        catch (InvalidProtocolBufferException)
        {
            return false;
        }
    }
}
