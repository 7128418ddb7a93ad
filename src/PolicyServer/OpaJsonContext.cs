using System.Text.Json.Serialization;

namespace Sandbox.PolicyServer;

/// <summary>Source-generated JSON metadata (NativeAOT: no reflection-based serialization).</summary>
[JsonSerializable(typeof(string))]
internal sealed partial class OpaJsonContext : JsonSerializerContext;
