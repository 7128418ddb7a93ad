using System.CommandLine;

namespace Sandbox.Cli.Parsing;

/// <summary>The program and its arguments of `run` and `exec` (one or more tokens, taken as they are). Parsed by hand:
/// System.CommandLine's default conversion of a string[] argument makes the array through reflection
/// (Array.CreateInstance), which in a NativeAOT process sets up the reflection runtime on every `sandbox run`.</summary>
internal static class ProgramArgument
{
    public static Argument<string[]> Create(string description) => new("command")
    {
        Description = description,
        Arity = ArgumentArity.OneOrMore,
        CustomParser = result => [.. result.Tokens.Select(t => t.Value)],
    };
}
