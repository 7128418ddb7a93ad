namespace Sandbox.CiRunner.Workflow;

/// <summary>A service's <c>options</c> (docker create flags on GitHub): only the health check is understood —
/// <c>--health-cmd</c>, <c>--health-interval</c>, <c>--health-timeout</c>, <c>--health-retries</c>,
/// <c>--health-start-period</c> — and the job's steps wait until it passes, as GitHub's runner waits for a healthy
/// container. Any other flag is refused by name: the sandbox's policy, not the workflow, decides a service's
/// privileges, mounts, network and limits.</summary>
public sealed record ServiceOptions
{
    public static readonly string[] Supported = ["--health-cmd", "--health-interval", "--health-timeout", "--health-retries", "--health-start-period"];

    public string? HealthCommand { get; init; }
    /// <summary>docker's defaults: 30 s interval and timeout, 3 retries, no start period.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);
    public int Retries { get; init; } = 3;
    public TimeSpan StartPeriod { get; init; } = TimeSpan.Zero;

    /// <summary>Parses the flags (words split as a shell would: quotes, backslashes); null with <paramref name="error"/>
    /// naming the flag or value that is wrong.</summary>
    public static ServiceOptions? Parse(string text, out string? error)
    {
        error = null;
        var words = Split(text, out error);
        if (words is null)
            return null;
        var options = new ServiceOptions();
        for (var i = 0; i < words.Count; i++)
        {
            var word = words[i];
            var eq = word.IndexOf('=');
            var flag = eq > 0 ? word[..eq] : word;
            if (!Supported.Contains(flag))
            {
                error = $"option '{flag}' is not supported: only {string.Join(", ", Supported)} (a service's privileges, mounts, network and limits come from the policy)";
                return null;
            }
            string value;
            if (eq > 0)
                value = word[(eq + 1)..];
            else if (i + 1 < words.Count)
                value = words[++i];
            else
            {
                error = $"option '{flag}' needs a value";
                return null;
            }
            switch (flag)
            {
                case "--health-cmd":
                    options = options with { HealthCommand = value };
                    break;
                case "--health-retries":
                    if (!int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var retries) || retries is < 1 or > 1000)
                    {
                        error = $"--health-retries '{value}' must be a whole number from 1 to 1000";
                        return null;
                    }
                    options = options with { Retries = retries };
                    break;
                default:
                    if (Duration(value) is not { } d)
                    {
                        error = $"{flag} '{value}' must be a duration such as 10s, 500ms, 1m or 1m30s";
                        return null;
                    }
                    options = flag switch
                    {
                        "--health-interval" => options with { Interval = d },
                        "--health-timeout" => options with { Timeout = d },
                        _ => options with { StartPeriod = d },
                    };
                    break;
            }
        }
        return options;
    }

    /// <summary>Go's duration syntax as docker reads it, for the units a health check uses: h, m, s, ms.</summary>
    private static TimeSpan? Duration(string text)
    {
        var m = System.Text.RegularExpressions.Regex.Match(text, @"^(?:(\d+(?:\.\d+)?)(h|ms|m|s))+$");
        if (!m.Success)
            return null;
        var total = TimeSpan.Zero;
        for (var i = 0; i < m.Groups[1].Captures.Count; i++)
        {
            var n = double.Parse(m.Groups[1].Captures[i].Value, System.Globalization.CultureInfo.InvariantCulture);
            total += m.Groups[2].Captures[i].Value switch
            {
                "h" => TimeSpan.FromHours(n),
                "m" => TimeSpan.FromMinutes(n),
                "s" => TimeSpan.FromSeconds(n),
                _ => TimeSpan.FromMilliseconds(n),
            };
        }
        return total > TimeSpan.Zero && total <= TimeSpan.FromHours(6) ? total : null;
    }

    /// <summary>Words as a POSIX shell splits them (single quotes literal, double quotes with \" and \\, backslash
    /// outside quotes); no expansion of any kind.</summary>
    private static List<string>? Split(string text, out string? error)
    {
        error = null;
        var words = new List<string>();
        var current = new System.Text.StringBuilder();
        var inWord = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsWhiteSpace(c))
            {
                if (inWord) words.Add(current.ToString());
                current.Clear();
                inWord = false;
                continue;
            }
            inWord = true;
            if (c == '\'')
            {
                var end = text.IndexOf('\'', i + 1);
                if (end < 0) { error = "options: a single quote is not closed"; return null; }
                current.Append(text, i + 1, end - i - 1);
                i = end;
            }
            else if (c == '"')
            {
                i++;
                while (i < text.Length && text[i] != '"')
                {
                    if (text[i] == '\\' && i + 1 < text.Length && text[i + 1] is '"' or '\\' or '$' or '`')
                        i++;
                    current.Append(text[i++]);
                }
                if (i >= text.Length) { error = "options: a double quote is not closed"; return null; }
            }
            else if (c == '\\' && i + 1 < text.Length)
                current.Append(text[++i]);
            else
                current.Append(c);
        }
        if (inWord) words.Add(current.ToString());
        return words;
    }
}
