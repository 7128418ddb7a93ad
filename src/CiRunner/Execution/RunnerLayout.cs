namespace Sandbox.CiRunner.Execution;

/// <summary>Paths inside a job's sandbox, as on GitHub's hosted Linux runners: HOME /home/runner (the sandbox's work
/// dir, a size-capped tmpfs), the workspace /home/runner/work/NAME/NAME, temp /home/runner/work/_temp, the tool cache
/// /home/runner/work/_tool (hosted runners use /opt/hostedtoolcache; here /opt is read-only).</summary>
public sealed class RunnerLayout(string repositoryName)
{
    public const string Home = "/home/runner";
    public const string Work = Home + "/work";
    public const string Temp = Work + "/_temp";
    public const string ToolCache = Work + "/_tool";
    public const string FileCommands = Temp + "/_runner_file_commands";
    public const string EventPath = Temp + "/_github_workflow/event.json";
    /// <summary>The runner's own commands (the <see cref="SudoShim"/>), on every step's PATH after $GITHUB_PATH.</summary>
    public const string Shims = Temp + "/_runner_shims";

    public string Workspace { get; } = $"{Work}/{repositoryName}/{repositoryName}";

    /// <summary>A step's working-directory (or an action's path) joined onto the workspace; an absolute path is kept as
    /// is, and a leading <c>~</c> is HOME (as actions/cache's <c>~/.npm</c>).</summary>
    public string Resolve(string? workingDirectory)
    {
        if (string.IsNullOrEmpty(workingDirectory)) return Workspace;
        if (workingDirectory == "~") return Home;
        if (workingDirectory.StartsWith("~/", StringComparison.Ordinal)) workingDirectory = Home + workingDirectory[1..];
        if (workingDirectory.StartsWith('/')) return workingDirectory;
        var parts = new List<string>();
        foreach (var part in $"{Workspace}/{workingDirectory}".Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".") continue;
            if (part == "..") { if (parts.Count > 0) parts.RemoveAt(parts.Count - 1); continue; }
            parts.Add(part);
        }
        return "/" + string.Join('/', parts);
    }
}
