using Sandbox.SyscallFilter.Loading;

namespace Sandbox.SyscallFilter;

/// <summary>Reads profiles from our YAML format or OCI/Docker seccomp JSON, validates them, and writes OCI JSON.</summary>
public static class SeccompProfileLoader
{
    /// <summary>Parses and validates a YAML profile; throws <see cref="SeccompProfileException"/> listing every problem.</summary>
    /// <param name="sourceName">File path or resource name used in messages and as the default profile name.</param>
    public static SeccompProfile FromYaml(string text, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(sourceName);
        var map = new SourceMap(sourceName);
        return Finish(YamlProfileReader.Read(text, map), map);
    }

    /// <summary>Parses and validates OCI runtime-spec / Docker seccomp JSON; throws <see cref="SeccompProfileException"/>.</summary>
    public static SeccompProfile FromOciJson(string text, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(sourceName);
        var map = new SourceMap(sourceName);
        return Finish(OciJsonProfileReader.Read(text, map), map);
    }

    /// <summary>Reads a profile file: <c>.yaml</c>/<c>.yml</c> as YAML, <c>.json</c> as OCI JSON.</summary>
    public static SeccompProfile LoadFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var extension = Path.GetExtension(path).ToLowerInvariant();
        if (extension is not (".yaml" or ".yml" or ".json"))
        {
            throw new SeccompProfileException(path, [new SeccompProfileError(path, "", $"unknown profile file extension '{extension}' (expected .yaml, .yml or .json)")]);
        }

        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SeccompProfileException(path, [new SeccompProfileError(path, "", $"cannot read the file: {e.Message}")], e);
        }

        return extension == ".json" ? FromOciJson(text, path) : FromYaml(text, path);
    }

    /// <summary>Writes <paramref name="profile"/> as OCI runtime-spec <c>linux.seccomp</c> JSON (indented).</summary>
    public static string ToOciJson(SeccompProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        return OciJsonProfileWriter.Write(profile);
    }

    private static SeccompProfile Finish(SeccompProfile? profile, SourceMap map)
    {
        if (profile is not null)
        {
            // The reader already reported what it could not read; skip the validator's echoes of the same places.
            var readerPaths = map.Errors.Select(e => e.Path).Where(p => p.Length > 0).ToArray();
            foreach (var error in SeccompProfileValidator.Validate(profile, map.Source))
            {
                var located = map.Locate(error);
                if (!readerPaths.Any(p => located.Path == p || located.Path.StartsWith(p + ".", StringComparison.Ordinal) || located.Path.StartsWith(p + "[", StringComparison.Ordinal)))
                {
                    map.Errors.Add(located);
                }
            }
        }

        if (map.Errors.Count > 0)
        {
            // document order; places without a line (JSON, whole-profile errors) keep their relative order at the end
            var ordered = map.Errors.OrderBy(e => e.Line == 0 ? int.MaxValue : e.Line).ThenBy(e => e.Column).ToArray();
            throw new SeccompProfileException(map.Source, ordered);
        }

        return profile!;
    }
}
