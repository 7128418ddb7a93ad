namespace Sandbox.CiRunner.Execution;

/// <summary>Artifacts of one run on the host: <c>ROOT/NAME/...</c>, written by actions/upload-artifact and read by
/// actions/download-artifact in later jobs. Names are checked so an artifact stays under ROOT. A temporary root is
/// removed at the end of the run; one given with --artifacts is kept.</summary>
public sealed class ArtifactStore : IDisposable
{
    private readonly bool _temporary;
    private readonly Dictionary<string, string> _uploadedBy = new(StringComparer.Ordinal);

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

    /// <summary>Takes <paramref name="name"/> for an upload by <paramref name="job"/> and returns its directory. Names
    /// are unique in a run, as with upload-artifact@v4: a second upload of a name fails, so one job can never replace
    /// or add to what another uploaded, unless it asks to <paramref name="overwrite"/> (v4's <c>overwrite: true</c>),
    /// which removes the old artifact first.</summary>
    public string Claim(string name, string job, bool overwrite)
    {
        var path = PathOf(name);
        lock (_uploadedBy)
        {
            if (_uploadedBy.TryGetValue(name, out var owner) && !overwrite)
                throw new ArgumentException($"an artifact named '{name}' was already uploaded in this run (by job '{owner}'); names are unique per run (overwrite: true replaces it)");
            if (Directory.Exists(path))
                Directory.Delete(path, recursive: true);
            _uploadedBy[name] = job;
        }
        return path;
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
