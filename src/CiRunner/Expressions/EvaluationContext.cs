namespace Sandbox.CiRunner.Expressions;

/// <summary>The status functions' answers where they are allowed (a job's or a step's <c>if</c>).</summary>
public sealed record StatusFunctions(bool Success, bool Failure, bool Cancelled);

/// <summary>What an expression sees: the named contexts (github, env, matrix, ...), the status functions where an
/// <c>if</c> is evaluated, and hashFiles' results where steps run (computed in the job's sandbox beforehand, see
/// <see cref="ExpressionWalk.HashFilesCalls"/>).</summary>
public sealed class EvaluationContext
{
    public ExprObject Contexts { get; } = new();

    public StatusFunctions? Status { get; init; }

    /// <summary>hashFiles results by their argument list (joined with '\n'); null where hashFiles is not available.</summary>
    public IReadOnlyDictionary<string, string>? HashFiles { get; init; }

    public EvaluationContext With(string name, ExprValue value)
    {
        Contexts[name] = value;
        return this;
    }

    public static string HashFilesKey(IEnumerable<string> patterns) => string.Join('\n', patterns);
}
