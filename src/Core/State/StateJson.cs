using System.Text.Json.Serialization;

namespace Sandbox.Core;

/// <summary>Source-generated JSON for the state records (Core runs in NativeAOT programs too).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    WriteIndented = true,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(SandboxRecord))]
[JsonSerializable(typeof(Policy.ResourceLimits), TypeInfoPropertyName = "PolicyResourceLimits")]
[JsonSerializable(typeof(Isolation.ResourceLimits), TypeInfoPropertyName = "EngineResourceLimits")]
internal sealed partial class StateJson : JsonSerializerContext;
