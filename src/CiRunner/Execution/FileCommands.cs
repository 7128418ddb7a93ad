using Sandbox.CiRunner.Expressions;

namespace Sandbox.CiRunner.Execution;

/// <summary>The environment files a step writes ($GITHUB_ENV, $GITHUB_OUTPUT, $GITHUB_PATH, $GITHUB_STEP_SUMMARY),
/// read after it exits, as GitHub's runner reads them (FileCommandManager.cs): empty lines skipped; whichever of '='
/// and '&lt;&lt;' comes first decides the form; <c>NAME=value</c> splits at the first '='; <c>NAME&lt;&lt;DELIM</c> takes
/// the following lines up to a line equal to DELIM, without the last newline; LF or CRLF.</summary>
public static class FileCommands
{
    public const long MaxFileBytes = 1024 * 1024;

    public static List<KeyValuePair<string, string>> ParseKeyValues(string text, string fileName)
    {
        var result = new List<KeyValuePair<string, string>>();
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (line.Length == 0) continue;
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            var heredoc = line.IndexOf("<<", StringComparison.Ordinal);
            if (eq >= 0 && (heredoc < 0 || eq < heredoc))
            {
                var name = line[..eq];
                if (name.Length == 0)
                    throw new ExpressionException($"{fileName}: line {i + 1} has an empty name: '{line}'");
                result.Add(KeyValuePair.Create(name, line[(eq + 1)..]));
                continue;
            }
            if (heredoc > 0)
            {
                var name = line[..heredoc];
                var delimiter = line[(heredoc + 2)..];
                if (delimiter.Length == 0)
                    throw new ExpressionException($"{fileName}: line {i + 1}: '{name}<<' has no delimiter");
                var value = new List<string>();
                var end = -1;
                for (var j = i + 1; j < lines.Length; j++)
                {
                    if (lines[j] == delimiter) { end = j; break; }
                    value.Add(lines[j]);
                }
                if (end < 0)
                    throw new ExpressionException($"{fileName}: matching delimiter not found: '{delimiter}' (for '{name}' at line {i + 1})");
                result.Add(KeyValuePair.Create(name, string.Join('\n', value)));
                i = end;
                continue;
            }
            throw new ExpressionException($"{fileName}: line {i + 1} is neither NAME=VALUE nor NAME<<DELIMITER: '{line}'");
        }
        return result;
    }

    /// <summary>GITHUB_ENV may not set these: the runner's own variables and NODE_OPTIONS (GitHub blocks it).</summary>
    public static bool IsProtectedEnv(string name) =>
        name.StartsWith("GITHUB_", StringComparison.Ordinal) || name.StartsWith("RUNNER_", StringComparison.Ordinal) || name == "NODE_OPTIONS";

    /// <summary>$GITHUB_PATH: one directory per non-empty line.</summary>
    public static IEnumerable<string> ParsePath(string text) =>
        text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0);
}
