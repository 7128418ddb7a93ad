using Sandbox.CiRunner.Expressions;

namespace Sandbox.CiRunner.Execution;

/// <summary>The expression contexts of one job leg, built once; a step's context adds env, steps, the job's status
/// and hashFiles results. Which contexts each place sees follows GitHub's availability table (contexts.md).</summary>
public sealed record JobContexts
{
    public required ExprValue Github { get; init; }
    public required ExprValue Needs { get; init; }
    public required ExprValue Matrix { get; init; }
    public required ExprValue Strategy { get; init; }
    public required ExprValue Secrets { get; init; }
    public required ExprValue Inputs { get; init; }
    public required ExprValue Runner { get; init; }
    /// <summary>job.services: each service's id, network and ports (<see cref="JobServices"/>); empty without services.</summary>
    public ExprValue Services { get; init; } = ExprValue.Object(new ExprObject());

    /// <summary>A job's <c>if</c>: github, needs, vars, inputs (no matrix, env or secrets).</summary>
    public EvaluationContext ForJobIf(StatusFunctions status) =>
        new EvaluationContext { Status = status }.With("github", Github).With("needs", Needs).With("vars", Empty()).With("inputs", Inputs);

    /// <summary>runs-on, name, timeout-minutes, continue-on-error, env of a job: + matrix, strategy (+ secrets for env).</summary>
    public EvaluationContext ForJob(ExprValue? env = null)
    {
        var c = new EvaluationContext().With("github", Github).With("needs", Needs).With("vars", Empty()).With("inputs", Inputs)
            .With("matrix", Matrix).With("strategy", Strategy).With("secrets", Secrets);
        if (env is not null) c.With("env", env);
        return c;
    }

    /// <summary>A step: everything, with the current env, the earlier steps, and (in its <c>if</c>) the job's status.</summary>
    public EvaluationContext ForStep(ExprValue env, ExprValue steps, string jobStatus, StatusFunctions? status = null,
        IReadOnlyDictionary<string, string>? hashFiles = null) =>
        new EvaluationContext { Status = status, HashFiles = hashFiles }
            .With("github", Github).With("needs", Needs).With("vars", Empty()).With("inputs", Inputs)
            .With("matrix", Matrix).With("strategy", Strategy).With("secrets", Secrets).With("runner", Runner)
            .With("env", env).With("steps", steps)
            .With("job", ExprValue.Object([KeyValuePair.Create("status", ExprValue.String(jobStatus)), KeyValuePair.Create("services", Services)]));

    private static ExprValue Empty() => ExprValue.Object(new ExprObject());

    /// <summary>An env map as the env context (keys case-sensitive, as on Linux).</summary>
    public static ExprValue EnvValue(IEnumerable<KeyValuePair<string, string>> env)
    {
        var o = new ExprObject(caseSensitive: true);
        foreach (var (k, v) in env) o[k] = ExprValue.String(v);
        return ExprValue.Object(o);
    }
}
