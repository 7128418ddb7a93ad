namespace Sandbox.KataShim.Cli;

/// <summary>What containerd passes on the command line, parsed with Go's `flag` rules (the shim protocol is defined
/// by a Go program): `-x v`, `--x v`, `-x=v`, booleans as `-debug` or `-debug=true`; flags end at the first argument
/// that is not a flag (the action: start, delete, or none for the daemon) or after `--`.</summary>
internal sealed record ShimArguments
{
    public string Namespace { get; init; } = "";
    public string Id { get; init; } = "";
    /// <summary>containerd's gRPC socket (-address); its ttrpc socket comes from TTRPC_ADDRESS.</summary>
    public string Address { get; init; } = "";
    public string PublishBinary { get; init; } = "";
    public string Bundle { get; init; } = "";
    /// <summary>The daemon's listening socket (our own flag: `start` binds nothing itself and passes the path).</summary>
    public string Socket { get; init; } = "";
    public bool Debug { get; init; }
    public bool Version { get; init; }
    public bool Info { get; init; }
    /// <summary>"start", "delete", or "" for the daemon.</summary>
    public string Action { get; init; } = "";

    private static readonly HashSet<string> BoolFlags = ["debug", "v", "version", "info"];
    private static readonly HashSet<string> ValueFlags = ["namespace", "id", "address", "publish-binary", "bundle", "socket", "debug-socket"];

    public static ShimArguments Parse(IReadOnlyList<string> args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var bools = new HashSet<string>(StringComparer.Ordinal);
        var i = 0;
        for (; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg == "--")
            {
                i++;
                break;
            }
            if (arg.Length < 2 || arg[0] != '-')
                break;
            var name = arg.StartsWith("--", StringComparison.Ordinal) ? arg[2..] : arg[1..];
            string? inline = null;
            var eq = name.IndexOf('=');
            if (eq >= 0)
            {
                inline = name[(eq + 1)..];
                name = name[..eq];
            }
            if (BoolFlags.Contains(name))
            {
                var on = inline is null || inline is "true" or "1" or "t" or "T" or "TRUE" or "True";
                if (inline is not null && !on && inline is not ("false" or "0" or "f" or "F" or "FALSE" or "False"))
                    throw new ShimUsageException($"invalid boolean value \"{inline}\" for -{name}");
                if (on) bools.Add(name);
                else bools.Remove(name);
            }
            else if (ValueFlags.Contains(name))
            {
                if (inline is null)
                {
                    if (i + 1 >= args.Count)
                        throw new ShimUsageException($"flag needs an argument: -{name}");
                    inline = args[++i];
                }
                values[name] = inline;
            }
            else
            {
                throw new ShimUsageException($"flag provided but not defined: -{name}");
            }
        }
        var action = i < args.Count ? args[i] : "";
        if (action is not ("" or "start" or "delete"))
            throw new ShimUsageException($"unknown action \"{action}\": expected start, delete or none (the daemon)");
        return new ShimArguments
        {
            Namespace = values.GetValueOrDefault("namespace", ""),
            Id = values.GetValueOrDefault("id", ""),
            Address = StripUnix(values.GetValueOrDefault("address", "")),
            PublishBinary = values.GetValueOrDefault("publish-binary", ""),
            Bundle = values.GetValueOrDefault("bundle", ""),
            Socket = StripUnix(values.GetValueOrDefault("socket", "")),
            Debug = bools.Contains("debug"),
            Version = bools.Contains("v") || bools.Contains("version"),
            Info = bools.Contains("info"),
            Action = action,
        };
    }

    /// <summary>containerd passes bare paths; newer versions may pass unix:// addresses.</summary>
    public static string StripUnix(string address) =>
        address.StartsWith("unix://", StringComparison.Ordinal) ? address["unix://".Length..] : address;
}

/// <summary>A command line containerd (or a person) got wrong: printed, exit status 1.</summary>
internal sealed class ShimUsageException(string message) : Exception(message);
