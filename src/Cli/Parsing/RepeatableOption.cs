using System.CommandLine;

namespace Sandbox.Cli.Parsing;

/// <summary>A repeatable NAME=VALUE-style option (--env, --allow, -p), its values taken as they are. System.CommandLine
/// makes a string[] value, and the empty one of an option not given, through Array.CreateInstance: in a NativeAOT
/// process that is reflection, on every `sandbox run` (README "Benchmarks", CLI round 5). Same values, no reflection.</summary>
internal static class RepeatableOption
{
    public static Option<string[]> Create(string name, string[] aliases, string description) => new(name, aliases)
    {
        Description = description,
        DefaultValueFactory = _ => [],
        CustomParser = result => [.. result.Tokens.Select(t => t.Value)],
    };
}
