namespace Sandbox.CiRunner.Execution;

/// <summary>Artifacts of one run on the host: <c>ROOT/NAME/...</c>, written by actions/upload-artifact and read by
/// actions/download-artifact in later jobs. Names are checked so an artifact stays under ROOT. A temporary root is
/// removed at the end of the run; one given with --artifacts is kept.</summary>
public sealed class ArtifactStore : IDisposable
{
    private readonly bool _temporary;

    public ArtifactStore(string? directory)
    {
        _temporary = directory is null;
        Root = directory is null ? Directory.CreateTempSubdirectory("sandbox-ci-artifacts-").FullName : Path.GetFullPath(directory);
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    public string PathOf(string name)
    {
        if (name.Length == 0 || name.Length > 255 || name is "." or ".." || name.IndexOfAny(['/', '\\', '\0', ':', '*', '?', '"', '<', '>', '|']) >= 0)
            throw new ArgumentException($"artifact name '{name}' is not valid: a non-empty name without / \\ : * ? \" < > |");
        return Path.Combine(Root, name);
    }

    public IEnumerable<string> Names => Directory.Exists(Root)
        ? Directory.EnumerateDirectories(Root).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)
        : [];

    public void Dispose()
    {
        if (_temporary && Directory.Exists(Root))
            Directory.Delete(Root, recursive: true);
    }
}
