namespace Sandbox.Fuzz.Tests;

/// <summary>Valid samples the generators mutate, read from the repository where it has them (the default policy, the
/// built-in seccomp profiles, the example config).</summary>
internal static class Corpus
{
    public static string RepoRoot { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Sandbox.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException("Sandbox.sln not found above the test binaries");
    }

    public static string Read(string relative) => File.ReadAllText(Path.Combine(RepoRoot, relative));

    /// <summary>Tokens that matter to YAML and JSON: structure, anchors and aliases, tags, quoting, numbers at the edges.</summary>
    public static readonly string[] YamlJsonTokens =
    [
        "\n", "\n  ", "\n- ", ": ", "- ", "[", "]", "{", "}", ",", "\"", "'", "&a ", "*a", "!!str ", "!!binary ", "!!map ", "? ",
        "|\n", ">\n", "~", "null", "true", "0x7fffffff", "-1", "99999999999999999999", "1e999", "0o777", "\"\\u0000\"", "\\",
        "#", "%YAML 1.2\n", "---\n", "...\n", "<<: *a\n", "\t", "\u00ff", "\ud83d\ude00",
    ];
}
