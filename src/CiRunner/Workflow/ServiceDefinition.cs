namespace Sandbox.CiRunner.Workflow;

/// <summary><c>jobs.&lt;id&gt;.services.&lt;label&gt;</c>: a service container from an image of the store, run beside the
/// job in a sandbox of its own that shares the job's network (docs/ci.md, "Service containers"). Values as written
/// (image, env values and options may hold templates).</summary>
public sealed record ServiceDefinition
{
    public required string Label { get; init; }
    public required SourceLocation Location { get; init; }
    public required string Image { get; init; }
    public IReadOnlyList<KeyValuePair<string, string>> Env { get; init; } = [];
    /// <summary>Ports as written ("5432", "5432:5432", "80/tcp"); checked by <see cref="ServicePort.Parse"/>.</summary>
    public IReadOnlyList<string> Ports { get; init; } = [];
    public string? Options { get; init; }
}

/// <summary>A service's port: it listens on <see cref="Port"/> in the network it shares with the job, so the job reaches
/// it at localhost:PORT (and LABEL:PORT). A different host port ("8080:80") would need a forwarder in the job's
/// network; it is refused, naming the port to write instead.</summary>
public readonly record struct ServicePort(int Port, string Protocol)
{
    /// <summary>"PORT", "PORT:PORT", with an optional "/tcp" or "/udp"; an error message otherwise.</summary>
    public static ServicePort Parse(string text, out string? error)
    {
        error = null;
        var spec = text.Trim();
        var protocol = "tcp";
        var slash = spec.IndexOf('/');
        if (slash >= 0)
        {
            protocol = spec[(slash + 1)..].ToLowerInvariant();
            spec = spec[..slash];
            if (protocol is not ("tcp" or "udp"))
            {
                error = $"port '{text}': protocol '{protocol}' is not supported (tcp or udp)";
                return default;
            }
        }
        var parts = spec.Split(':');
        if (parts.Length > 2 || parts.Any(p => !int.TryParse(p, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) || n is < 1 or > 65535))
        {
            error = $"port '{text}' must be PORT or PORT:PORT (1-65535), optionally with /tcp or /udp (a host address is not supported)";
            return default;
        }
        if (parts.Length == 2 && parts[0] != parts[1])
        {
            error = $"port '{text}': a service shares the job's network here, so it is reached on the port it listens on: write '{parts[1]}' and use localhost:{parts[1]} (a different host port would need a forwarder)";
            return default;
        }
        return new ServicePort(int.Parse(parts[^1], System.Globalization.CultureInfo.InvariantCulture), protocol);
    }
}
