using Google.Protobuf;
using Sandbox.KataShim.Protocol.Events;

namespace Sandbox.KataShim.Events;

/// <summary>The bare type URLs of what the shim packs into an <c>Any</c> (containerd decodes `containerd.events.TaskExit`,
/// never type.googleapis.com/...), spelled out: reading them from a generated <c>Descriptor</c> would build the
/// protobuf descriptor pool of the file and its imports, heap a daemon keeps for its whole life. A test checks each
/// against the descriptors.</summary>
internal static class TypeUrls
{
    public const string Metrics = "io.containerd.cgroups.v1.Metrics";

    public static string Of(IMessage message) => message switch
    {
        TaskCreate => "containerd.events.TaskCreate",
        TaskStart => "containerd.events.TaskStart",
        TaskDelete => "containerd.events.TaskDelete",
        TaskExit => "containerd.events.TaskExit",
        TaskOOM => "containerd.events.TaskOOM",
        TaskExecAdded => "containerd.events.TaskExecAdded",
        TaskExecStarted => "containerd.events.TaskExecStarted",
        TaskPaused => "containerd.events.TaskPaused",
        TaskResumed => "containerd.events.TaskResumed",
        Protocol.Cgroups.Metrics => Metrics,
        _ => throw new ArgumentException($"no type URL is declared for {message.GetType().Name}", nameof(message)),
    };
}
