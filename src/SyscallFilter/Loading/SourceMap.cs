namespace Sandbox.SyscallFilter.Loading;

/// <summary>Where a model path (e.g. <c>rules[2].names[0]</c>) came from in the source document.</summary>
internal readonly record struct SourcePlace(string Path, int Line, int Column);

/// <summary>
/// Collects a reader's errors and the source place of every model path, so errors found later by
/// <see cref="SeccompProfileValidator"/> name the document's own path (and line, for YAML).
/// </summary>
internal sealed class SourceMap
{
    private readonly Dictionary<string, SourcePlace> _places = new(StringComparer.Ordinal);

    public SourceMap(string source) => Source = source;

    public string Source { get; }

    public List<SeccompProfileError> Errors { get; } = [];

    public void Map(string modelPath, SourcePlace place) => _places[modelPath] = place;

    public void Error(SourcePlace place, string message) =>
        Errors.Add(new SeccompProfileError(Source, place.Path, message, place.Line, place.Column));

    /// <summary>Rewrites a validator error's model path to the document's path and line.</summary>
    public SeccompProfileError Locate(SeccompProfileError error) =>
        _places.TryGetValue(error.Path, out var place)
            ? error with { Path = place.Path, Line = place.Line, Column = place.Column }
            : error;
}
