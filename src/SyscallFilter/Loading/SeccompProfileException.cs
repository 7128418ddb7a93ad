namespace Sandbox.SyscallFilter;

/// <summary>One problem in a profile: the source (file or resource), the place in it and what is wrong.</summary>
/// <param name="Source">File path or resource name, e.g. <c>policies/seccomp/default.yaml</c>.</param>
/// <param name="Path">Place in the document, e.g. <c>rules[3].names[1]</c>, with <c>(line L, column C)</c> where known.</param>
/// <param name="Message">What is wrong and what is accepted.</param>
/// <param name="Line">1-based line in the source, 0 when unknown.</param>
/// <param name="Column">1-based column in the source, 0 when unknown.</param>
public sealed record SeccompProfileError(string Source, string Path, string Message, int Line = 0, int Column = 0)
{
    public override string ToString()
    {
        var where = Line > 0 ? $"{Source}:{Line}:{Column}" : Source;
        return Path.Length == 0 ? $"{where}: {Message}" : $"{where}: {Path}: {Message}";
    }
}

/// <summary>A profile could not be read, validated or compiled; <see cref="Errors"/> lists every problem found.</summary>
public sealed class SeccompProfileException : Exception
{
    public SeccompProfileException(string source, IReadOnlyList<SeccompProfileError> errors, Exception? innerException = null)
        : base(FormatMessage(source, errors), innerException)
    {
        Source = source;
        Errors = errors;
    }

    /// <summary>The file path or resource name of the profile.</summary>
    public new string Source { get; }

    public IReadOnlyList<SeccompProfileError> Errors { get; }

    private static string FormatMessage(string source, IReadOnlyList<SeccompProfileError> errors)
    {
        var noun = errors.Count == 1 ? "error" : "errors";
        return $"seccomp profile '{source}' is invalid ({errors.Count} {noun}):{Environment.NewLine}  "
            + string.Join(Environment.NewLine + "  ", errors);
    }
}
