using System.Collections.Concurrent;

namespace Sandbox.SyscallFilter;

/// <summary>
/// The profiles shipped in policies/seccomp/*.yaml, embedded in this assembly as <c>seccomp/NAME.yaml</c>
/// so they work without the repository. There is deliberately no "unconfined" profile.
/// </summary>
public static class SeccompProfiles
{
    private const string ResourcePrefix = "seccomp/";
    private static readonly ConcurrentDictionary<string, SeccompProfile> Cache = new(StringComparer.Ordinal);

    /// <summary>The built-in profile names, sorted.</summary>
    public static IReadOnlyList<string> Names { get; } = typeof(SeccompProfiles).Assembly.GetManifestResourceNames()
        .Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal) && n.EndsWith(".yaml", StringComparison.Ordinal))
        .Select(n => n[ResourcePrefix.Length..^".yaml".Length])
        .Order(StringComparer.Ordinal)
        .ToArray();

    /// <summary>The built-in profile <paramref name="name"/>; an unknown name throws <see cref="ArgumentException"/> listing the known ones.</summary>
    public static SeccompProfile GetBuiltIn(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!Names.Contains(name, StringComparer.Ordinal))
        {
            throw new ArgumentException($"unknown built-in seccomp profile '{name}' (known: {string.Join(", ", Names)})", nameof(name));
        }

        return Cache.GetOrAdd(name, static n =>
        {
            var resource = $"{ResourcePrefix}{n}.yaml";
            using var stream = typeof(SeccompProfiles).Assembly.GetManifestResourceStream(resource)
                ?? throw new InvalidOperationException($"embedded resource '{resource}' is missing");
            using var reader = new StreamReader(stream);
            return SeccompProfileLoader.FromYaml(reader.ReadToEnd(), resource) with { Name = n };
        });
    }
}
