namespace Sandbox.Policy.Rego;

/// <summary>OPA's error codes, plus ours for the evaluation limits.</summary>
public static class RegoErrorCodes
{
    public const string ParseError = "rego_parse_error";
    public const string CompileError = "rego_compile_error";
    public const string UnsafeVarError = "rego_unsafe_var_error";
    public const string TypeError = "rego_type_error";
    public const string RecursionError = "rego_recursion_error";
    public const string ConflictError = "eval_conflict_error";
    public const string BuiltinError = "eval_builtin_error";
    public const string EvalTypeError = "eval_type_error";
    public const string InternalError = "eval_internal_error";
    public const string CancelError = "eval_cancel_error";
    public const string BudgetExceeded = "eval_budget_exceeded";
    public const string DepthExceeded = "eval_depth_exceeded";
    public const string InvalidParameter = "invalid_parameter";
    public const string BundleError = "bundle_error";
}

/// <summary>A position in a policy source file (1-based row and column).</summary>
public sealed record RegoLocation(string File, int Row, int Col)
{
    public override string ToString() => $"{File}:{Row}:{Col}";
}

/// <summary>One error, shaped like OPA's <c>{code, message, location}</c>.</summary>
public sealed record RegoError(string Code, string Message, RegoLocation? Location = null)
{
    public override string ToString() => Location is null ? $"{Code}: {Message}" : $"{Location}: {Code}: {Message}";

    /// <summary>Writes the error as OPA's JSON object {code, message, location{file,row,col}}: one shape for every face
    /// that reports it (the CLI's eval output, the Data API server).</summary>
    public void WriteJson(System.Text.Json.Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        writer.WriteString("code", Code);
        writer.WriteString("message", Message);
        if (Location is { } loc)
        {
            writer.WriteStartObject("location");
            writer.WriteString("file", loc.File);
            writer.WriteNumber("row", loc.Row);
            writer.WriteNumber("col", loc.Col);
            writer.WriteEndObject();
        }
        writer.WriteEndObject();
    }
}

/// <summary>An error raised while loading or evaluating a policy.</summary>
public class RegoException : Exception
{
    public RegoException(string code, string message, RegoLocation? location = null) : base(message)
    {
        Error = new RegoError(code, message, location);
    }

    public RegoError Error { get; }
    public string Code => Error.Code;
}

/// <summary>Every error found while compiling a bundle (bounded to <see cref="MaxErrors"/>).</summary>
public sealed class RegoCompileException : Exception
{
    public const int MaxErrors = 10;

    public RegoCompileException(IReadOnlyList<RegoError> errors)
        : base($"{errors.Count} error(s) occurred:\n" + string.Join("\n", errors))
    {
        Errors = errors;
    }

    public IReadOnlyList<RegoError> Errors { get; }
}
