using System.Text.Json.Serialization;

namespace Sandbox.Isolation.Images;

/// <summary>What the store keeps about one image (images/&lt;config hex&gt;.json): its names, where its unpacked root
/// is, and the defaults its config gives a sandbox.</summary>
public sealed record ImageRecord
{
    /// <summary>The image's identity: the digest of its config.</summary>
    [JsonPropertyName("id")] public required string Id { get; init; }
    /// <summary>Local names, NAME:TAG.</summary>
    [JsonPropertyName("names")] public List<string> Names { get; init; } = [];
    [JsonPropertyName("manifestDigest")] public string? ManifestDigest { get; init; }
    /// <summary>The OCI chain id of the last layer: names the unpacked root (rootfs/&lt;hex&gt;) and is the stable key
    /// another tier may cache a derived form (a block image) under.</summary>
    [JsonPropertyName("rootfsKey")] public required string RootfsKey { get; init; }
    /// <summary>Uncompressed layer digests, bottom first.</summary>
    [JsonPropertyName("diffIds")] public List<string> DiffIds { get; init; } = [];
    /// <summary>The stored layer blobs (compressed or not, as fetched), bottom first.</summary>
    [JsonPropertyName("layerBlobs")] public List<string> LayerBlobs { get; init; } = [];
    [JsonPropertyName("architecture")] public string? Architecture { get; init; }
    [JsonPropertyName("os")] public string? Os { get; init; }
    [JsonPropertyName("unpackedBytes")] public long UnpackedBytes { get; init; }
    [JsonPropertyName("entries")] public int Entries { get; init; }
    /// <summary>Where it came from: a file, a directory or a registry reference.</summary>
    [JsonPropertyName("source")] public string? Source { get; init; }
    [JsonPropertyName("importedAt")] public DateTimeOffset ImportedAt { get; init; }
    [JsonPropertyName("defaults")] public ImageDefaults Defaults { get; init; } = new();
}

/// <summary>What an image's config asks of the process it runs: OCI's Env, WorkingDir, User, Entrypoint and Cmd.</summary>
public sealed record ImageDefaults
{
    [JsonPropertyName("env")] public List<string> Env { get; init; } = [];
    [JsonPropertyName("workingDir")] public string? WorkingDir { get; init; }
    [JsonPropertyName("user")] public string? User { get; init; }
    [JsonPropertyName("entrypoint")] public List<string> Entrypoint { get; init; } = [];
    [JsonPropertyName("cmd")] public List<string> Cmd { get; init; } = [];

    public static ImageDefaults From(OciRuntimeConfig? config) => new()
    {
        Env = config?.Env ?? [],
        WorkingDir = string.IsNullOrEmpty(config?.WorkingDir) ? null : config.WorkingDir,
        User = string.IsNullOrEmpty(config?.User) ? null : config.User,
        Entrypoint = config?.Entrypoint ?? [],
        Cmd = config?.Cmd ?? [],
    };

    /// <summary>Env as a map (later entries win, as a runtime applies them); entries without '=' are skipped.</summary>
    public Dictionary<string, string> EnvMap()
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in Env)
        {
            var eq = entry.IndexOf('=');
            if (eq > 0)
                map[entry[..eq]] = entry[(eq + 1)..];
        }
        return map;
    }

    /// <summary>The command a run without one of its own executes: Entrypoint + Cmd, or Entrypoint + the given args.</summary>
    public IReadOnlyList<string> Command(IReadOnlyList<string> args)
        => [.. Entrypoint, .. args.Count > 0 ? args : Cmd];
}
