using System.Text.Json.Nodes;
using Sandbox.Policy.Rego;

namespace Sandbox.Policy;

/// <summary>The input document of a sandbox decision (<c>input</c> in Rego).</summary>
public sealed record PolicyInput(
    RequestInfo Request,
    SubjectInfo Subject,
    WorkloadInfo Workload,
    RequestedSpec Requested,
    EnvironmentInfo Environment)
{
    /// <summary>The document as JSON, with the field names the policies use.</summary>
    public JsonNode ToJson() => ValueJson.ToNode(ToValue())!;

    internal Value ToValue() => Obj(
        ("request", Obj(("id", S(Request.Id)), ("time", S(Request.Time.ToString("O"))), ("operation", S(Request.Operation)))),
        ("subject", Obj(("tenant", S(Subject.Tenant)), ("principal", S(Subject.Principal)), ("verified", Value.Bool(Subject.Verified)))),
        ("workload", Obj(WorkloadItems())),
        ("requested", Obj(
            ("isolation", S(Requested.Isolation)),
            ("resources", ResourcesValue(Requested.Resources)),
            ("network", NetworkValue(Requested.Network)),
            ("syscalls", Arr(Requested.Syscalls ?? [])),
            ("syscall_profile", Requested.SyscallProfile is null ? Value.Null : S(Requested.SyscallProfile)))),
        ("environment", Obj(("tiers", Arr(Environment.Tiers)), ("accel", S(Environment.Accel)))));

    /// <summary>The workload's fields; annotations, labels and namespace only when the face gave them (a containerd
    /// bundle's annotations, the CRI pod's labels, the containerd namespace), so other faces' input is unchanged.</summary>
    private (string, Value)[] WorkloadItems()
    {
        var items = new List<(string, Value)>
        {
            ("image", Workload.Image is null ? Value.Null : S(Workload.Image)),
            ("rootfs", Workload.Rootfs is null ? Value.Null : S(Workload.Rootfs)),
            ("code_provenance", S(Workload.CodeProvenance)),
            ("untrusted", Value.Bool(Workload.Untrusted)),
        };
        if (Workload.Annotations is { Count: > 0 } annotations)
            items.Add(("annotations", Map(annotations)));
        if (Workload.Labels is { Count: > 0 } labels)
            items.Add(("labels", Map(labels)));
        if (Workload.Namespace is { } ns)
            items.Add(("namespace", S(ns)));
        return [.. items];
    }

    /// <summary>requested.network; <c>netns</c> (the orchestrator's namespace path) only when one is asked for, so
    /// other requests' input is unchanged.</summary>
    private static ObjectValue NetworkValue(RequestedNetwork? n)
    {
        var items = new List<(string, Value)>
        {
            ("mode", S(n?.Mode ?? "none")), ("egress", Arr(n?.Egress ?? [])), ("publish", Arr(n?.Publish ?? [])),
        };
        if (n?.Netns is { } netns)
            items.Add(("netns", S(netns)));
        return Obj([.. items]);
    }

    private static ObjectValue Map(IReadOnlyDictionary<string, string> map) =>
        Obj([.. map.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (kv.Key, (Value)S(kv.Value)))]);

    private static Value ResourcesValue(RequestedResources? r)
    {
        var items = new List<(string, Value)>();
        if (r?.MemoryMiB is { } m) items.Add(("memory_mib", Value.Number(m)));
        if (r?.Vcpus is { } c) items.Add(("vcpus", Value.Number(c)));
        if (r?.Pids is { } p) items.Add(("pids", Value.Number(p)));
        if (r?.DiskMiB is { } d) items.Add(("disk_mib", Value.Number(d)));
        if (r?.TimeoutSeconds is { } t) items.Add(("timeout_s", Value.Number(t)));
        return Obj([.. items]);
    }

    private static StringValue S(string s) => new(s);
    private static ArrayValue Arr(IEnumerable<string> items) => new(items.Select(i => (Value)new StringValue(i)).ToArray());

    private static ObjectValue Obj(params (string Key, Value Value)[] items)
    {
        var map = new Dictionary<Value, Value>(items.Length);
        foreach (var (k, v) in items) map[new StringValue(k)] = v;
        return new ObjectValue(map);
    }
}

/// <summary>The request: id, time and operation (e.g. "create").</summary>
public sealed record RequestInfo(string Id, DateTimeOffset Time, string Operation = "create");

/// <summary>The verified subject (from authentication, never asserted by the client).</summary>
public sealed record SubjectInfo(string Tenant, string Principal, bool Verified);

/// <summary>What will run: image or rootfs, where the code comes from ("tenant", "fork", "unknown"), and whether it is
/// untrusted; optionally its annotations and labels (an OCI bundle's annotations, a CRI pod's labels) and the
/// namespace it was submitted in (the containerd namespace).</summary>
public sealed record WorkloadInfo(string? Image, string? Rootfs, string CodeProvenance, bool Untrusted,
    IReadOnlyDictionary<string, string>? Annotations = null, IReadOnlyDictionary<string, string>? Labels = null, string? Namespace = null);

/// <summary>What the client asked for. Isolation is a hint: "auto", "container" or "microvm". SyscallProfile: a
/// seccomp profile the caller wants (null = the policy's choice).</summary>
public sealed record RequestedSpec(
    string Isolation = "auto",
    RequestedResources? Resources = null,
    RequestedNetwork? Network = null,
    IReadOnlyList<string>? Syscalls = null,
    string? SyscallProfile = null);

/// <summary>Requested limits; null = the policy's default.</summary>
public sealed record RequestedResources(long? MemoryMiB = null, int? Vcpus = null, int? Pids = null, long? DiskMiB = null, int? TimeoutSeconds = null);

/// <summary>Requested network: mode "none", "loopback", "egress" or "netns", the egress entries wanted ("HOST[:PORT]",
/// "IPV4[/PREFIX][:PORT]"), the ports to publish on the host's loopback ("HOSTPORT:PORT") and, for mode netns, the
/// path of the network namespace an orchestrator made for the workload (containerd's CRI: /var/run/netns/cni-…).</summary>
public sealed record RequestedNetwork(string Mode = "none", IReadOnlyList<string>? Egress = null, IReadOnlyList<string>? Publish = null,
    string? Netns = null);

/// <summary>What this host offers: available tiers ("container", "microvm") and the accelerator ("kvm" or "tcg").</summary>
public sealed record EnvironmentInfo(IReadOnlyList<string> Tiers, string Accel);
