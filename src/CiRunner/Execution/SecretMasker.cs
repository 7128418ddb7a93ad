namespace Sandbox.CiRunner.Execution;

/// <summary>Replaces every secret value (and every value a step registered with <c>::add-mask::</c>) with ***, in
/// every line shown or reported. Longest values first, so a secret that contains another is masked whole. A
/// multi-line secret is also masked line by line, since logs are handled a line at a time.</summary>
public sealed class SecretMasker
{
    private readonly Lock _lock = new();
    private string[] _values = [];

    public SecretMasker(IEnumerable<string> values)
    {
        foreach (var v in values) Add(v);
    }

    public void Add(string value)
    {
        var parts = value.Split('\n').Select(p => p.TrimEnd('\r')).Append(value).Where(p => p.Trim().Length > 0);
        lock (_lock)
            _values = [.. _values.Union(parts, StringComparer.Ordinal).OrderByDescending(v => v.Length)];
    }

    public string Mask(string text)
    {
        var values = _values;
        foreach (var v in values)
            if (text.Contains(v, StringComparison.Ordinal))
                text = text.Replace(v, "***", StringComparison.Ordinal);
        return text;
    }

    public bool Contains(string text) => _values.Any(v => text.Contains(v, StringComparison.Ordinal));
}
