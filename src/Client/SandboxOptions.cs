using Google.Protobuf.WellKnownTypes;
using Sandbox.Api.V1;

namespace Sandbox.Client;

/// <summary>What to ask the policy for; unset = the policy's default. The policy may lower any value; what was granted
/// is in <see cref="RemoteSandbox.Info"/>.</summary>
public sealed record SandboxOptions
{
    public long? MemoryMiB { get; init; }
    public double? Cpus { get; init; }
    public int? Pids { get; init; }
    public TimeSpan? Timeout { get; init; }
    public TimeSpan? Ttl { get; init; }
    /// <summary>"container", "microvm" or null (the policy decides).</summary>
    public string? Tier { get; init; }
    /// <summary>The code is the caller's own (policy input); false = untrusted code of unknown provenance.</summary>
    public bool Trusted { get; init; }
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    internal CreateSandboxRequest ToRequest()
    {
        var r = new CreateSandboxRequest
        {
            Tier = Tier switch
            {
                null => Api.V1.Tier.Unspecified,
                "container" => Api.V1.Tier.Container,
                "microvm" => Api.V1.Tier.Microvm,
                _ => throw new ArgumentException($"tier '{Tier}' must be container, microvm or null", nameof(Tier)),
            },
            Resources = new Resources
            {
                MemoryMib = MemoryMiB ?? 0,
                Vcpus = Cpus ?? 0,
                Pids = Pids ?? 0,
                Timeout = Timeout is { } t ? Duration.FromTimeSpan(t) : null,
            },
            Ttl = Ttl is { } ttl ? Duration.FromTimeSpan(ttl) : null,
        };
        if (Trusted)
        {
            r.Untrusted = false;
            r.CodeProvenance = "tenant";
        }
        foreach (var (k, v) in Env)
            r.Env[k] = v;
        foreach (var (k, v) in Labels)
            r.Labels[k] = v;
        return r;
    }
}

internal static class ProcessOptions
{
    public static ProcessStart Start(IReadOnlyList<string> argv, bool stdin, TimeSpan? timeout)
    {
        if (argv.Count == 0)
            throw new ArgumentException("argv must name a program", nameof(argv));
        var p = new ProcessStart { Stdin = stdin, Timeout = timeout is { } t ? Duration.FromTimeSpan(t) : null };
        p.Argv.AddRange(argv);
        return p;
    }
}
