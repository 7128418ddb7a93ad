namespace Sandbox.CiRunner.Workflow;

/// <summary>The command line a <c>run</c> step's script file is run with, as GitHub's runner builds it
/// (ScriptHandlerHelpers.cs): unspecified = <c>bash -e {0}</c> (no pipefail); <c>bash</c> adds
/// --noprofile --norc and pipefail; <c>sh -e {0}</c>; <c>python {0}</c>; a custom shell is a command line whose
/// arguments contain <c>{0}</c>.</summary>
public static class ShellCommand
{
    public static readonly IReadOnlyList<string> Names = ["bash", "sh", "python"];

    public static bool IsSupported(string shell) =>
        Names.Contains(shell) || (shell.Contains("{0}", StringComparison.Ordinal) && shell.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries).Length > 1);

    /// <summary>The script file's extension for a shell.</summary>
    public static string Extension(string? shell) => shell switch
    {
        "python" => ".py",
        null or "bash" or "sh" => ".sh",
        _ => "",
    };

    /// <summary>argv for running <paramref name="scriptPath"/>; <paramref name="shell"/> null = the default.</summary>
    public static IReadOnlyList<string> Argv(string? shell, string scriptPath) => shell switch
    {
        null => ["bash", "-e", scriptPath],
        "bash" => ["bash", "--noprofile", "--norc", "-eo", "pipefail", scriptPath],
        "sh" => ["sh", "-e", scriptPath],
        // Debian has no `python`, only `python3`: the hosted image's `python` is Python 3.
        "python" => ["python3", scriptPath],
        _ => shell.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(a => a.Replace("{0}", scriptPath, StringComparison.Ordinal)).ToList(),
    };
}
