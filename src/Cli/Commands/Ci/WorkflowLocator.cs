namespace Sandbox.Cli.Commands.Ci;

/// <summary>Which workflow file a ci verb reads: the one given, else the only file in ./.github/workflows/ (an error
/// lists them when there are several).</summary>
internal static class WorkflowLocator
{
    public static string Find(string? given)
    {
        if (given is not null)
        {
            if (!File.Exists(given))
                throw new FormatException($"workflow file '{given}' does not exist");
            return Path.GetFullPath(given);
        }
        var dir = Path.Combine(Directory.GetCurrentDirectory(), ".github", "workflows");
        var files = Directory.Exists(dir)
            ? Directory.EnumerateFiles(dir).Where(f => f.EndsWith(".yml", StringComparison.Ordinal) || f.EndsWith(".yaml", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList()
            : [];
        return files.Count switch
        {
            1 => files[0],
            0 => throw new FormatException($"no workflow file given and none in {dir}: name one (sandbox ci run WORKFLOW.yml)"),
            _ => throw new FormatException($"no workflow file given and {dir} has {files.Count}: name one of {string.Join(", ", files.Select(Path.GetFileName))}"),
        };
    }

    /// <summary>The repository a workflow belongs to: the directory holding .github/workflows/FILE, else the current one.</summary>
    public static string RepositoryRoot(string workflowPath)
    {
        var dir = Path.GetDirectoryName(workflowPath)!;
        if (Path.GetFileName(dir) == "workflows" && Path.GetFileName(Path.GetDirectoryName(dir)) == ".github")
            return Path.GetDirectoryName(Path.GetDirectoryName(dir))!;
        return Directory.GetCurrentDirectory();
    }
}
