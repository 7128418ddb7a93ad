using Sandbox.CiRunner.Execution;
using Sandbox.CiRunner.Expressions;
using Sandbox.CiRunner.Trust;
using Sandbox.CiRunner.Workflow;

namespace Sandbox.CiRunner.Scheduling;

/// <summary>Runs a workflow: the <c>needs</c> DAG as a graph of tasks (a job starts when every job it needs has
/// finished; validation has ruled out cycles), at most <see cref="RunOptions.MaxParallelJobs"/> job legs at once across
/// the run, a matrix expanded when its job is ready (so <c>fromJSON(needs.x.outputs.m)</c> works), max-parallel per
/// job, fail-fast cancelling the other legs of a job, and a job skipped when a job it needs did not succeed unless its
/// <c>if</c> uses a status function.</summary>
public sealed class WorkflowRunner(IJobSandboxHost host, CiPolicy policy, IRunObserver observer)
{
    private sealed record JobOutcome(Conclusion Result, IReadOnlyDictionary<string, string> Outputs, bool AncestorsSucceeded, bool AncestorsFailed);

    public async Task<RunResult> RunAsync(WorkflowFile workflow, RunOptions run, CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var selected = Select(workflow, run.JobFilter);
        var masker = new SecretMasker(run.Secrets.Values);
        using var artifacts = new ArtifactStore(run.ArtifactsDirectory);
        using var gate = new SemaphoreSlim(Math.Max(1, run.MaxParallelJobs));
        var runner = new JobRunner(host, policy, observer, masker, artifacts);
        var legs = new List<JobResult>();
        var tasks = new Dictionary<string, Task<JobOutcome>>(StringComparer.Ordinal);
        Task<JobOutcome> TaskOf(JobDefinition job)
        {
            if (tasks.TryGetValue(job.Id, out var t)) return t;
            var needs = job.Needs.ToDictionary(n => n, n => TaskOf(workflow.FindJob(n)!), StringComparer.Ordinal);
            return tasks[job.Id] = RunJobAsync(workflow, run, job, needs, runner, gate, masker, legs, cancellationToken);
        }
        foreach (var job in selected) _ = TaskOf(job);
        await Task.WhenAll(tasks.Values).ConfigureAwait(false);
        // Report in workflow order, legs in matrix order.
        var order = workflow.Jobs.Select((j, i) => (j.Id, i)).ToDictionary(p => p.Id, p => p.i, StringComparer.Ordinal);
        List<JobResult> ordered;
        lock (legs) ordered = [.. legs.Select((l, i) => (l, i)).OrderBy(p => order[p.l.JobId]).ThenBy(p => p.i).Select(p => p.l)];
        return new RunResult
        {
            Workflow = workflow.Name ?? Path.GetFileName(workflow.Path),
            Jobs = ordered,
            Duration = started.Elapsed,
            Cancelled = cancellationToken.IsCancellationRequested,
        };
    }

    /// <summary>The jobs to run: those named (with everything they need), or all. An unknown name is an error naming
    /// the jobs there are.</summary>
    public static IReadOnlyList<JobDefinition> Select(WorkflowFile workflow, IReadOnlyList<string> filter)
    {
        if (filter.Count == 0) return workflow.Jobs;
        var chosen = new HashSet<string>(StringComparer.Ordinal);
        void Add(string id)
        {
            var job = workflow.FindJob(id) ?? throw new ArgumentException($"--job '{id}' is not a job of {workflow.Path} (jobs: {string.Join(", ", workflow.Jobs.Select(j => j.Id))})");
            if (!chosen.Add(id)) return;
            foreach (var n in job.Needs) Add(n);
        }
        foreach (var id in filter) Add(id);
        return workflow.Jobs.Where(j => chosen.Contains(j.Id)).ToList();
    }

    private async Task<JobOutcome> RunJobAsync(WorkflowFile workflow, RunOptions run, JobDefinition job, Dictionary<string, Task<JobOutcome>> needTasks,
        JobRunner runner, SemaphoreSlim gate, SecretMasker masker, List<JobResult> legs, CancellationToken cancellationToken)
    {
        await Task.WhenAll(needTasks.Values).ConfigureAwait(false);
        var needs = needTasks.ToDictionary(p => p.Key, p => p.Value.Result, StringComparer.Ordinal);
        var ancestorsSucceeded = needs.Values.All(n => n.Result == Conclusion.Success && n.AncestorsSucceeded);
        var ancestorsFailed = needs.Values.Any(n => n.Result is Conclusion.Failure or Conclusion.Cancelled || n.AncestorsFailed);
        var needsValue = ExprValue.Object(needs.Select(p => KeyValuePair.Create(p.Key, ExprValue.Object([
            KeyValuePair.Create("result", ExprValue.String(p.Value.Result.Name())),
            KeyValuePair.Create("outputs", ExprValue.StringMap(p.Value.Outputs)),
        ]))));
        var github = GithubContext.Context(run, workflow.Name ?? Path.GetFileName(workflow.Path), job.Id,
            new RunnerLayout(run.Repository[(run.Repository.IndexOf('/', StringComparison.Ordinal) + 1)..]), GithubContext.Event(run));
        var secrets = ExprValue.StringMap(run.Secrets);
        var noSecrets = ExprValue.Object(new ExprObject());
        JobContexts Contexts(ExprObject? matrix, int index, int total, bool secretsAllowed) => new()
        {
            Github = github,
            Needs = needsValue,
            Matrix = matrix is null ? ExprValue.Null : ExprValue.Object(matrix),
            Strategy = ExprValue.Object([
                KeyValuePair.Create("fail-fast", ExprValue.Bool(job.Strategy?.FailFast ?? true)),
                KeyValuePair.Create("job-index", ExprValue.Number(index)),
                KeyValuePair.Create("job-total", ExprValue.Number(total)),
                KeyValuePair.Create("max-parallel", ExprValue.Number(job.Strategy?.MaxParallel ?? total)),
            ]),
            Secrets = secretsAllowed ? secrets : noSecrets,
            Inputs = ExprValue.StringMap(run.Inputs),
            Runner = GithubContext.Runner("sandbox"),
        };

        // The job's if: github, needs, vars, inputs; an if without a status function means success() && (...).
        bool runIt;
        try
        {
            runIt = Condition.Evaluate(job.If, Contexts(null, 0, 1, false).ForJobIf(
                new StatusFunctions(ancestorsSucceeded && !cancellationToken.IsCancellationRequested, ancestorsFailed, cancellationToken.IsCancellationRequested)));
        }
        catch (ExpressionException e)
        {
            return Finished(Record(legs, new JobResult { JobId = job.Id, Name = job.Name ?? job.Id, Outcome = Conclusion.Failure, Conclusion = Conclusion.Failure, Error = $"if: {e.Message}" }));
        }
        if (!runIt || cancellationToken.IsCancellationRequested)
        {
            var skipped = new JobResult
            {
                JobId = job.Id, Name = job.Name ?? job.Id,
                Outcome = cancellationToken.IsCancellationRequested ? Conclusion.Cancelled : Conclusion.Skipped,
                Conclusion = cancellationToken.IsCancellationRequested ? Conclusion.Cancelled : Conclusion.Skipped,
                Error = cancellationToken.IsCancellationRequested ? "the run was cancelled" : null,
            };
            observer.JobQueued(Record(legs, skipped));
            observer.JobFinished(skipped);
            return Finished(skipped);
        }

        IReadOnlyList<ExprObject?> combos;
        try
        {
            combos = job.Strategy is null ? new ExprObject?[] { null }
                : [.. MatrixExpander.Expand(job.Strategy.Matrix ?? TemplateString.Evaluate(job.Strategy.MatrixTemplate!, Contexts(null, 0, 1, false).ForJobIf(new StatusFunctions(true, false, false)))).Cast<ExprObject?>()];
        }
        catch (ExpressionException e)
        {
            return Finished(Record(legs, new JobResult { JobId = job.Id, Name = job.Name ?? job.Id, Outcome = Conclusion.Failure, Conclusion = Conclusion.Failure, Error = $"strategy.matrix: {e.Message}" }));
        }
        if (combos.Count == 0)
            return Finished(Record(legs, new JobResult { JobId = job.Id, Name = job.Name ?? job.Id, Outcome = Conclusion.Failure, Conclusion = Conclusion.Failure, Error = "strategy.matrix gives no jobs" }));

        using var failFast = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var perJob = new SemaphoreSlim(job.Strategy?.MaxParallel ?? combos.Count);
        var results = new List<JobResult>();
        var legTasks = new List<Task>();
        for (var i = 0; i < combos.Count; i++)
        {
            var combo = combos[i];
            var preview = Contexts(combo, i, combos.Count, false).ForJob();
            var name = job.Name is { } n && TemplateString.HasExpressions(n) ? Safe(() => TemplateString.EvaluateString(n, preview), n)
                : combo is null ? job.Name ?? job.Id : $"{job.Name ?? job.Id} {MatrixExpander.LegSuffix(combo)}";
            var leg = Record(legs, new JobResult { JobId = job.Id, Name = masker.Mask(name) });
            results.Add(leg);
            observer.JobQueued(leg);
            var index = i;
            legTasks.Add(Task.Run(async () =>
            {
                try
                {
                    await perJob.WaitAsync(failFast.Token).ConfigureAwait(false);
                    try
                    {
                        await gate.WaitAsync(failFast.Token).ConfigureAwait(false);
                        try
                        {
                            // The runner withdraws the secrets where the CI policy's decision for this leg says so.
                            await runner.RunAsync(run, workflow, job, leg, Contexts(combo, index, combos.Count, true), failFast.Token).ConfigureAwait(false);
                        }
                        finally
                        {
                            gate.Release();
                        }
                    }
                    finally
                    {
                        perJob.Release();
                    }
                }
                catch (OperationCanceledException)
                {
                    leg.Outcome = leg.Conclusion = Conclusion.Cancelled;
                    leg.Error = cancellationToken.IsCancellationRequested ? "the run was cancelled" : "cancelled by fail-fast (another leg failed)";
                    observer.JobFinished(leg);
                }
                if (leg.Conclusion == Conclusion.Failure && (job.Strategy?.FailFast ?? false))
                    await failFast.CancelAsync().ConfigureAwait(false);
            }, CancellationToken.None));
        }
        await Task.WhenAll(legTasks).ConfigureAwait(false);
        var outputs = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var r in results)
            foreach (var (k, v) in r.Outputs)
                if (v.Length > 0) outputs[k] = v;
        var conclusion = results.Any(r => r.Conclusion == Conclusion.Failure) ? Conclusion.Failure
            : results.Any(r => r.Conclusion == Conclusion.Cancelled) ? Conclusion.Cancelled
            : results.Any(r => r.Conclusion == Conclusion.Success) ? Conclusion.Success : Conclusion.Skipped;
        return new JobOutcome(conclusion, outputs, ancestorsSucceeded, ancestorsFailed);

        JobOutcome Finished(JobResult r) => new(r.Conclusion, new Dictionary<string, string>(), ancestorsSucceeded, ancestorsFailed);
    }

    private static JobResult Record(List<JobResult> legs, JobResult leg)
    {
        lock (legs) legs.Add(leg);
        return leg;
    }

    private static string Safe(Func<string> evaluate, string fallback)
    {
        try
        {
            return evaluate();
        }
        catch (ExpressionException)
        {
            return fallback;
        }
    }
}
