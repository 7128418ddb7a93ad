using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sandbox.KataShim.Oci;

// The OCI runtime spec (config.json) as far as the shim reads it. Every member the spec defines for Linux is
// modelled, so that BundleTranslator can refuse what the engine cannot honour by name; a member that is not
// modelled at all is refused by the reader (JsonUnmappedMemberHandling.Disallow), never ignored.

internal sealed class OciSpec
{
    public string? OciVersion { get; set; }
    public OciProcess? Process { get; set; }
    public OciRoot? Root { get; set; }
    public string? Hostname { get; set; }
    public string? Domainname { get; set; }
    public List<OciMount>? Mounts { get; set; }
    public JsonElement? Hooks { get; set; }
    public Dictionary<string, string>? Annotations { get; set; }
    public OciLinux? Linux { get; set; }
}

internal sealed class OciProcess
{
    public bool Terminal { get; set; }
    public OciConsoleSize? ConsoleSize { get; set; }
    public OciUser? User { get; set; }
    public List<string>? Args { get; set; }
    public string? CommandLine { get; set; }
    public List<string>? Env { get; set; }
    public string? Cwd { get; set; }
    public OciCapabilities? Capabilities { get; set; }
    public List<OciRlimit>? Rlimits { get; set; }
    public bool NoNewPrivileges { get; set; }
    public string? ApparmorProfile { get; set; }
    public int? OomScoreAdj { get; set; }
    public string? SelinuxLabel { get; set; }
    public JsonElement? IoPriority { get; set; }
    public JsonElement? Scheduler { get; set; }
    public JsonElement? ExecCPUAffinity { get; set; }
}

internal sealed class OciConsoleSize
{
    public uint Height { get; set; }
    public uint Width { get; set; }
}

internal sealed class OciUser
{
    public uint Uid { get; set; }
    public uint Gid { get; set; }
    public uint? Umask { get; set; }
    public List<uint>? AdditionalGids { get; set; }
    public string? Username { get; set; }
}

internal sealed class OciCapabilities
{
    public List<string>? Bounding { get; set; }
    public List<string>? Effective { get; set; }
    public List<string>? Inheritable { get; set; }
    public List<string>? Permitted { get; set; }
    public List<string>? Ambient { get; set; }
}

internal sealed class OciRlimit
{
    public string Type { get; set; } = "";
    public ulong Hard { get; set; }
    public ulong Soft { get; set; }
}

internal sealed class OciRoot
{
    public string Path { get; set; } = "";
    public bool Readonly { get; set; }
}

internal sealed class OciMount
{
    public string Destination { get; set; } = "";
    public string? Type { get; set; }
    public string? Source { get; set; }
    public List<string>? Options { get; set; }
    public JsonElement? UidMappings { get; set; }
    public JsonElement? GidMappings { get; set; }
}

internal sealed class OciLinux
{
    public JsonElement? UidMappings { get; set; }
    public JsonElement? GidMappings { get; set; }
    public Dictionary<string, string>? Sysctl { get; set; }
    public OciResources? Resources { get; set; }
    public string? CgroupsPath { get; set; }
    public List<OciNamespace>? Namespaces { get; set; }
    public JsonElement? Devices { get; set; }
    public JsonElement? Seccomp { get; set; }
    public string? RootfsPropagation { get; set; }
    public List<string>? MaskedPaths { get; set; }
    public List<string>? ReadonlyPaths { get; set; }
    public string? MountLabel { get; set; }
    public JsonElement? IntelRdt { get; set; }
    public JsonElement? Personality { get; set; }
    public JsonElement? TimeOffsets { get; set; }
}

internal sealed class OciNamespace
{
    public string Type { get; set; } = "";
    public string? Path { get; set; }
}

internal sealed class OciResources
{
    public List<OciDeviceRule>? Devices { get; set; }
    public OciMemory? Memory { get; set; }
    public OciCpu? Cpu { get; set; }
    public OciPids? Pids { get; set; }
    public JsonElement? BlockIO { get; set; }
    public JsonElement? HugepageLimits { get; set; }
    public JsonElement? Network { get; set; }
    public JsonElement? Rdma { get; set; }
    public Dictionary<string, string>? Unified { get; set; }
}

internal sealed class OciDeviceRule
{
    public bool Allow { get; set; }
    public string? Type { get; set; }
    public long? Major { get; set; }
    public long? Minor { get; set; }
    public string? Access { get; set; }
}

internal sealed class OciMemory
{
    public long? Limit { get; set; }
    public long? Reservation { get; set; }
    public long? Swap { get; set; }
    public long? Kernel { get; set; }
    public long? KernelTCP { get; set; }
    public ulong? Swappiness { get; set; }
    public bool? DisableOOMKiller { get; set; }
    public bool? UseHierarchy { get; set; }
    public bool? CheckBeforeUpdate { get; set; }
}

internal sealed class OciCpu
{
    public ulong? Shares { get; set; }
    public long? Quota { get; set; }
    public long? Burst { get; set; }
    public ulong? Period { get; set; }
    public long? RealtimeRuntime { get; set; }
    public ulong? RealtimePeriod { get; set; }
    public string? Cpus { get; set; }
    public string? Mems { get; set; }
    public long? Idle { get; set; }
}

internal sealed class OciPids
{
    public long Limit { get; set; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow, ReadCommentHandling = JsonCommentHandling.Disallow)]
[JsonSerializable(typeof(OciSpec))]
[JsonSerializable(typeof(OciProcess))]
[JsonSerializable(typeof(OciResources))]
internal sealed partial class OciJson : JsonSerializerContext;
