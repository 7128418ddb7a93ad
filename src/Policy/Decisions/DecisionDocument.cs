using System.Text.Json.Nodes;

namespace Sandbox.Policy;

/// <summary>A typed decision as a JSON document (what <c>sandbox policy explain</c> prints; keys sorted as OPA sorts them).</summary>
public static class DecisionDocument
{
    public static JsonObject From(PolicyDecision d) => new()
    {
        ["allow"] = d.Allow,
        ["bundle_revision"] = d.BundleRevision,
        ["decision_id"] = d.DecisionId,
        ["isolation"] = d.Isolation,
        ["network"] = Network(d.Network),
        ["reasons"] = Strings(d.Reasons),
        ["require_hardware_virtualization"] = d.RequireHardwareVirtualization,
        ["resources"] = new JsonObject
        {
            ["disk_mib"] = d.Resources.DiskMiB,
            ["memory_mib"] = d.Resources.MemoryMiB,
            ["pids"] = d.Resources.Pids,
            ["timeout_s"] = d.Resources.TimeoutSeconds,
            ["vcpus"] = d.Resources.Vcpus,
        },
        ["syscall_profile"] = new JsonObject { ["add"] = Strings(d.SyscallProfile.Add), ["name"] = d.SyscallProfile.Name },
    };

    private static JsonObject Network(NetworkPolicy n)
    {
        var o = new JsonObject { ["egress"] = Strings(n.Egress), ["mode"] = n.Mode };
        if (n.Netns is { } netns)
            o["netns"] = netns;
        o["publish"] = Strings(n.Publish);
        return o;
    }

    private static JsonArray Strings(IEnumerable<string> xs) => new(xs.Select(x => (JsonNode?)JsonValue.Create(x)).ToArray());
}
