namespace Sandbox.Isolation.Images;

/// <summary>The Debian mirror this machine's apt is configured with for a suite, read from its sources (deb822
/// *.sources and one-line *.list files). Images are built from it, so no mirror host is ever written into the
/// project.</summary>
public static class AptSources
{
    public static string? FindMirror(string suite, string etcApt = "/etc/apt")
    {
        var dir = Path.Combine(etcApt, "sources.list.d");
        IEnumerable<string> sources = Directory.Exists(dir) ? Directory.EnumerateFiles(dir, "*.sources").Order() : [];
        foreach (var file in sources)
        {
            foreach (var stanza in File.ReadAllText(file).Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
            {
                var fields = stanza.Split('\n').Where(l => !l.StartsWith('#')).Select(l => l.Split(':', 2)).Where(p => p.Length == 2)
                    .ToDictionary(p => p[0].Trim(), p => p[1].Trim(), StringComparer.OrdinalIgnoreCase);
                if (fields.GetValueOrDefault("Enabled") is "no")
                    continue;
                if (fields.GetValueOrDefault("Types")?.Split(' ').Contains("deb") == true
                    && fields.GetValueOrDefault("Suites")?.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains(suite) == true
                    && fields.GetValueOrDefault("URIs")?.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() is { } uri)
                    return uri;
            }
        }
        var lists = new[] { Path.Combine(etcApt, "sources.list") }.Concat(Directory.Exists(dir) ? Directory.EnumerateFiles(dir, "*.list").Order() : []);
        foreach (var file in lists.Where(File.Exists))
        {
            foreach (var line in File.ReadLines(file))
            {
                var words = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries).ToList();
                if (words.Count < 3 || words[0] != "deb")
                    continue;
                var i = 1;
                if (words[1].StartsWith('['))
                {
                    while (i < words.Count && !words[i].EndsWith(']'))
                        i++;
                    i++; // past the option list "[arch=amd64 signed-by=…]"
                }
                if (i + 1 < words.Count && words[i + 1] == suite)
                    return words[i];
            }
        }
        return null;
    }
}
