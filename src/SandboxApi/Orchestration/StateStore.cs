using System.Text.Json;
using System.Text.Json.Serialization;
using Sandbox.Isolation;
using Sandbox.Policy;

namespace Sandbox.SandboxApi.Orchestration;

/// <summary>What is written to disk for each long-lived sandbox ({state_dir}/sandboxes/{id}.json), so a restarted
/// sandboxd knows what it had: enough to re-attach it when it still runs (<see cref="Attachment"/>) and to find and
/// reclaim what is left of it when it does not.</summary>
public sealed record SandboxRecord
{
    public required string Id { get; init; }
    public required string Tenant { get; init; }
    public required string Tier { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
    public string? CgroupPath { get; init; }
    public int HostUid { get; init; }
    public string? DecisionId { get; init; }
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    /// <summary>The policy decision it was created under (reported again after a re-attach).</summary>
    public PolicyDecision? Decision { get; init; }
    /// <summary>The driver's re-attach record (opaque; see ISandboxDriver.AttachAsync); null when it cannot be taken back.</summary>
    public SandboxAttachment? Attachment { get; init; }
}

/// <summary>The on-disk sandbox registry: one JSON file per sandbox, written atomically (temp file + rename).</summary>
public sealed class StateStore
{
    private static readonly JsonSerializerOptions s_json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    private readonly string _dir;

    public StateStore(string stateDir)
    {
        _dir = Path.Combine(stateDir, "sandboxes");
        Directory.CreateDirectory(_dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    public void Save(SandboxRecord record)
    {
        var path = PathOf(SandboxId.Parse(record.Id));
        var temp = path + ".tmp";
        File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(record, s_json));
        File.Move(temp, path, overwrite: true);
    }

    public void Delete(SandboxId id) => File.Delete(PathOf(id));

    /// <summary>Every readable record, and the files that could not be read (with why).</summary>
    public (IReadOnlyList<SandboxRecord> Records, IReadOnlyList<(string File, string Error)> Bad) LoadAll()
    {
        var records = new List<SandboxRecord>();
        var bad = new List<(string, string)>();
        foreach (var file in Directory.EnumerateFiles(_dir))
        {
            if (file.EndsWith(".tmp", StringComparison.Ordinal))
            {
                File.Delete(file);
                continue;
            }
            try
            {
                var record = JsonSerializer.Deserialize<SandboxRecord>(File.ReadAllBytes(file), s_json)
                    ?? throw new JsonException("empty record");
                if (!SandboxId.TryParse(record.Id, out var id) || PathOf(id) != file)
                    throw new JsonException($"id '{record.Id}' does not match the file name");
                records.Add(record);
            }
            catch (Exception e) when (e is JsonException or IOException)
            {
                bad.Add((file, e.Message));
            }
        }
        return (records, bad);
    }

    public void DeleteFile(string file) => File.Delete(file);

    private string PathOf(SandboxId id) => Path.Combine(_dir, id.Value + ".json");
}
