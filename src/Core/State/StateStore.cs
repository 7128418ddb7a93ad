using System.Text.Json;
using Sandbox.Isolation;

namespace Sandbox.Core;

/// <summary>The on-disk sandbox registry: one JSON file per sandbox, written atomically (temp file + rename). Without
/// a directory (<see cref="SandboxCoreOptions.StateDirectory"/> null) nothing is persisted.</summary>
public sealed class StateStore
{
    private readonly string? _dir;

    public StateStore(string? stateDir)
    {
        if (stateDir is null)
            return;
        _dir = Path.Combine(stateDir, "sandboxes");
        Directory.CreateDirectory(_dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    public bool Persistent => _dir is not null;

    public void Save(SandboxRecord record)
    {
        if (_dir is null)
            return;
        var path = PathOf(SandboxId.Parse(record.Id));
        var temp = path + ".tmp";
        File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(record, StateJson.Default.SandboxRecord));
        File.Move(temp, path, overwrite: true);
    }

    public void Delete(SandboxId id)
    {
        if (_dir is not null)
            File.Delete(PathOf(id));
    }

    /// <summary>Every readable record, and the files that could not be read (with why).</summary>
    public (IReadOnlyList<SandboxRecord> Records, IReadOnlyList<(string File, string Error)> Bad) LoadAll()
    {
        var records = new List<SandboxRecord>();
        var bad = new List<(string, string)>();
        if (_dir is null)
            return (records, bad);
        foreach (var file in Directory.EnumerateFiles(_dir))
        {
            if (file.EndsWith(".tmp", StringComparison.Ordinal))
            {
                File.Delete(file);
                continue;
            }
            try
            {
                var record = JsonSerializer.Deserialize(File.ReadAllBytes(file), StateJson.Default.SandboxRecord)
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

    private string PathOf(SandboxId id) => Path.Combine(_dir!, id.Value + ".json");
}
