using System.Reflection;

namespace Sandbox.Cli;

/// <summary>What `sandbox --version` prints: the informational version (with the commit it was built from), as
/// System.CommandLine's own --version would.</summary>
internal static class CliVersion
{
    public static string Text =>
        typeof(CliVersion).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(CliVersion).Assembly.GetName().Version?.ToString() ?? "unknown";
}
