namespace Sandbox.E2E;

/// <summary>The host's first plain-http apt mirror, read from its apt sources at run time (deb822 .sources files and
/// one-line .list files): the only outside server the egress tests talk to.</summary>
public sealed record AptMirror(string Host, int Port, string Uri, string Suite, string Component)
{
    public static AptMirror? Find()
    {
        var files = new List<string>();
        if (File.Exists("/etc/apt/sources.list")) files.Add("/etc/apt/sources.list");
        if (Directory.Exists("/etc/apt/sources.list.d"))
            files.AddRange(Directory.EnumerateFiles("/etc/apt/sources.list.d").Order(StringComparer.Ordinal));
        foreach (var file in files)
        {
            var text = File.ReadAllText(file);
            var found = file.EndsWith(".sources", StringComparison.Ordinal) ? FromDeb822(text) : FromOneLine(text);
            if (found is not null) return found;
        }
        return null;
    }

    private static AptMirror? FromDeb822(string text)
    {
        foreach (var stanza in text.Split("\n\n"))
        {
            var fields = stanza.Split('\n').Where(l => l.Contains(':') && !l.StartsWith('#'))
                .Select(l => l.Split(':', 2)).GroupBy(p => p[0].Trim()).ToDictionary(g => g.Key, g => g.First()[1].Trim());
            if (fields.GetValueOrDefault("Types", "").Split(' ').Contains("deb") && fields.TryGetValue("URIs", out var uris)
                && Make(uris.Split(' ')[0], fields.GetValueOrDefault("Suites", "").Split(' ')[0], fields.GetValueOrDefault("Components", "main").Split(' ')[0]) is { } m)
                return m;
        }
        return null;
    }

    private static AptMirror? FromOneLine(string text)
    {
        foreach (var line in text.Split('\n'))
        {
            var parts = line.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(p => !p.StartsWith('[')).ToArray();
            if (parts.Length >= 4 && parts[0] == "deb" && Make(parts[1], parts[2], parts[3]) is { } m)
                return m;
        }
        return null;
    }

    private static AptMirror? Make(string uri, string suite, string component)
    {
        if (!System.Uri.TryCreate(uri, UriKind.Absolute, out var u) || u.Scheme != "http" || suite.Length == 0)
            return null;
        return new AptMirror(u.Host, u.Port, uri.TrimEnd('/'), suite, component);
    }
}
