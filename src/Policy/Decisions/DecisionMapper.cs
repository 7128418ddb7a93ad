using Sandbox.Policy.Rego;

namespace Sandbox.Policy;

/// <summary>
/// Turns the policy's raw decision document into a <see cref="PolicyDecision"/>: validates every field,
/// clamps limits to the host ceilings, and fails closed (any doubt is a deny that says why).
/// </summary>
internal static class DecisionMapper
{
    public static readonly IReadOnlySet<string> DefaultProfiles = new HashSet<string>(StringComparer.Ordinal) { "default", "strict" };

    public static PolicyDecision Deny(string id, string? revision, params string[] reasons) => new()
    {
        Allow = false,
        Isolation = IsolationTiers.MicroVm,
        Resources = ResourceLimits.None,
        Network = NetworkPolicy.Disabled,
        SyscallProfile = new SyscallProfileRef("default", []),
        Reasons = reasons,
        DecisionId = id,
        BundleRevision = revision,
        RequireHardwareVirtualization = true,
    };

    public static PolicyDecision FromResult(RegoEvalResult result, string query, DecisionContext ctx) => result.Kind switch
    {
        RegoResultKind.Undefined => Deny(ctx.DecisionId, ctx.Revision, $"policy decision {query} is undefined"),
        RegoResultKind.Error => Deny(ctx.DecisionId, ctx.Revision, $"policy evaluation failed: {result.Error}"),
        _ => FromValue(result.RawValue!, ctx),
    };

    public static PolicyDecision FromValue(Value doc, DecisionContext ctx)
    {
        if (doc is not ObjectValue o) return Deny(ctx.DecisionId, ctx.Revision, $"policy decision must be an object, got {Value.TypeName(doc)}");
        var problems = new List<string>();
        var notes = new List<string>();

        var reasons = new List<string>();
        switch (o.Get("reasons"))
        {
            case null: break;
            case ArrayValue ra: reasons.AddRange(ra.Items.Select(r => r is StringValue s ? s.V : r.ToJson())); break;
            case SetValue rs: reasons.AddRange(rs.Sorted.Select(r => r is StringValue s ? s.V : r.ToJson())); break;
            default: problems.Add("decision.reasons must be an array of strings"); break;
        }

        var allow = o.Get("allow") switch
        {
            BoolValue b => b.V,
            null => Problem(problems, "decision.allow is missing"),
            var other => Problem(problems, $"decision.allow must be a boolean, got {other}"),
        };

        var isolation = o.Get("isolation") is StringValue iso ? iso.V : null;
        if (isolation is not (IsolationTiers.Container or IsolationTiers.MicroVm))
        {
            problems.Add($"unknown isolation tier {(isolation is null ? o.Get("isolation")?.ToJson() ?? "(missing)" : "'" + isolation + "'")}: expected container or microvm");
            isolation = IsolationTiers.MicroVm;
        }

        var requireHw = o.Get("require_hardware_virtualization") switch
        {
            null => false,
            BoolValue b => b.V,
            var other => !Problem(problems, $"decision.require_hardware_virtualization must be a boolean, got {other}"),
        };

        var resources = ReadResources(o.Get("resources"), ctx.Ceilings, problems, notes);
        var network = ReadNetwork(o.Get("network"), ctx.Ceilings, problems);

        var profile = new SyscallProfileRef("default", []);
        if (o.Get("syscall_profile") is ObjectValue sp && sp.Get("name") is StringValue pn)
        {
            if (!ctx.KnownProfiles.Contains(pn.V)) problems.Add($"unknown syscall profile '{pn.V}': expected one of {string.Join(", ", ctx.KnownProfiles.Order(StringComparer.Ordinal))}");
            var add = new List<string>();
            switch (sp.Get("add"))
            {
                case null: break;
                case ArrayValue aa when aa.Items.All(i => i is StringValue): add.AddRange(aa.Items.Select(i => ((StringValue)i).V)); break;
                case SetValue sa when sa.Items.All(i => i is StringValue): add.AddRange(sa.Sorted.Select(i => ((StringValue)i).V)); break;
                default: problems.Add("decision.syscall_profile.add must be an array of syscall names"); break;
            }
            profile = new SyscallProfileRef(pn.V, add);
        }
        else problems.Add("decision.syscall_profile.name is missing");

        if (isolation == IsolationTiers.MicroVm && requireHw && ctx.Accel is not null && ctx.Accel != "kvm")
            problems.Add($"the decision requires hardware virtualization for the microvm tier but this host's accelerator is {ctx.Accel}");

        var ok = problems.Count == 0;
        if (allow && !ok) reasons.Insert(0, "denied: the policy decision is invalid");
        reasons.AddRange(problems);
        reasons.AddRange(notes);
        if (!ok) return Deny(ctx.DecisionId, ctx.Revision, [.. reasons]);
        return new PolicyDecision
        {
            Allow = allow,
            Isolation = isolation,
            Resources = resources,
            Network = network,
            SyscallProfile = profile,
            Reasons = reasons,
            DecisionId = ctx.DecisionId,
            BundleRevision = ctx.Revision,
            RequireHardwareVirtualization = requireHw,
        };
    }

    private static bool Problem(List<string> problems, string p)
    {
        problems.Add(p);
        return false;
    }

    private static ResourceLimits ReadResources(Value? v, HostCeilings c, List<string> problems, List<string> notes)
    {
        if (v is not ObjectValue r)
        {
            problems.Add("decision.resources must be an object");
            return ResourceLimits.None;
        }
        long Read(string name, long ceiling)
        {
            switch (r.Get(name))
            {
                case null:
                    problems.Add($"decision.resources.{name} is missing");
                    return 0;
                case NumberValue n when n.TryGetInt(out var l) && l > 0:
                    if (l <= ceiling) return l;
                    notes.Add($"{name} {l} clamped to the host ceiling {ceiling}");
                    return ceiling;
                case var other:
                    problems.Add($"decision.resources.{name} must be a positive integer, got {other}");
                    return 0;
            }
        }
        return new ResourceLimits(
            Read("memory_mib", c.MemoryMiB),
            (int)Read("vcpus", c.Vcpus),
            (int)Read("pids", c.Pids),
            Read("disk_mib", c.DiskMiB),
            (int)Read("timeout_s", c.TimeoutSeconds));
    }

    private static NetworkPolicy ReadNetwork(Value? v, HostCeilings c, List<string> problems)
    {
        if (v is not ObjectValue n || n.Get("mode") is not StringValue mode)
        {
            problems.Add("decision.network.mode is missing");
            return NetworkPolicy.Disabled;
        }
        if (mode.V is not (NetworkModes.None or NetworkModes.Loopback or NetworkModes.Egress or NetworkModes.Netns))
        {
            problems.Add($"unknown network mode '{mode.V}': expected none, loopback, egress or netns");
            return NetworkPolicy.Disabled;
        }
        var hosts = Strings(n.Get("egress"));
        if (hosts is null)
        {
            problems.Add("decision.network.egress must be an array of egress entries (HOST[:PORT] or IPV4[/PREFIX][:PORT])");
            return NetworkPolicy.Disabled;
        }
        var publish = Strings(n.Get("publish"));
        if (publish is null)
        {
            problems.Add("decision.network.publish must be an array of HOSTPORT:PORT strings");
            return NetworkPolicy.Disabled;
        }
        if (mode.V == NetworkModes.Netns)
        {
            if (n.Get("netns") is not StringValue { V.Length: > 0 } netns)
            {
                problems.Add("network mode netns needs decision.network.netns: the path of the namespace to join");
                return NetworkPolicy.Disabled;
            }
            if (hosts.Count > 0 || publish.Count > 0)
                problems.Add("network mode netns takes no egress entries or published ports (the namespace's network is the orchestrator's)");
            return new NetworkPolicy(mode.V, []) { Netns = netns.V };
        }
        if (mode.V != NetworkModes.Egress) return new NetworkPolicy(mode.V, []);
        if (hosts.Count == 0 && publish.Count == 0) problems.Add("network mode egress needs at least one egress entry or published port");
        if (hosts.Count > c.MaxEgressHosts) problems.Add($"decision allows {hosts.Count} egress hosts, more than the host limit of {c.MaxEgressHosts}");
        return new NetworkPolicy(mode.V, hosts) { Publish = publish };
    }

    private static List<string>? Strings(Value? v) => v switch
    {
        null => [],
        ArrayValue a when a.Items.All(i => i is StringValue) => a.Items.Select(i => ((StringValue)i).V).ToList(),
        SetValue s when s.Items.All(i => i is StringValue) => s.Sorted.Select(i => ((StringValue)i).V).ToList(),
        _ => null,
    };
}

internal sealed record DecisionContext(string DecisionId, string? Revision, HostCeilings Ceilings, IReadOnlySet<string> KnownProfiles, string? Accel);
