using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Sandbox.Api;

/// <summary>The sandbox.v1 file descriptors with source info (the comments of proto/), from the descriptor set embedded
/// at build time. The generated code's descriptors carry no comments; these do, for reflection and documentation.</summary>
public static class SandboxDescriptors
{
    public const string ResourceName = "sandbox.v1.protoset";

    private static readonly Lazy<IReadOnlyList<FileDescriptor>> s_files = new(Load);

    /// <summary>Every file of the set, imports first (google/protobuf/*, then sandbox/v1/*).</summary>
    public static IReadOnlyList<FileDescriptor> Files => s_files.Value;

    private static IReadOnlyList<FileDescriptor> Load()
    {
        using var stream = typeof(SandboxDescriptors).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"resource {ResourceName} is missing from {typeof(SandboxDescriptors).Assembly.GetName().Name}");
        var set = FileDescriptorSet.Parser.ParseFrom(stream);
        return FileDescriptor.BuildFromByteStrings(set.File.Select(f => f.ToByteString()));
    }
}
