namespace Sandbox.Policy.Rego;

/// <summary>Per-evaluation limits and switches. Hostile policies or inputs end in a clean error, never a hang.</summary>
public sealed class EvalOptions
{
    public static EvalOptions Default { get; } = new();

    /// <summary>Maximum evaluation steps (expressions, iterations, collection inserts). Default 1,000,000.</summary>
    public long MaxSteps { get; init; } = 1_000_000;

    /// <summary>Maximum nesting of rule, function and comprehension evaluations. Default 64.</summary>
    public int MaxDepth { get; init; } = 64;

    /// <summary>Wall-clock limit for one evaluation; null = none. Default null.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>When true a builtin error is an <c>eval_builtin_error</c>; otherwise the expression is undefined (OPA's default).</summary>
    public bool StrictBuiltinErrors { get; init; }

    /// <summary>Clock for <c>time.now_ns</c> (only callable when the bundle was compiled with it enabled). Default system clock.</summary>
    public TimeProvider? TimeProvider { get; init; }

    public CancellationToken CancellationToken { get; init; }

    /// <summary>
    /// Receives each line of <c>print(...)</c> (OPA's print hook); null (the default) discards them. Printing never
    /// changes a result.
    /// </summary>
    public Action<string>? PrintHook { get; init; }
}
