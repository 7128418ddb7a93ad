using Sandbox.CiRunner.Expressions;

namespace Sandbox.CiRunner.Workflow;

/// <summary>Checks across a parsed workflow, all problems in one pass: <c>needs</c> that name no job, cycles in
/// <c>needs</c> (each reported with its path, never hung on), duplicate step ids, expressions that do not parse, and
/// contexts used where GitHub does not offer them (a job's <c>if</c> sees only github, needs, vars and inputs).</summary>
public static class WorkflowValidator
{
    private static readonly string[] JobIfContexts = ["github", "needs", "vars", "inputs"];

    public static IReadOnlyList<WorkflowError> Validate(WorkflowFile workflow)
    {
        var errors = new List<WorkflowError>();
        var ids = workflow.Jobs.Select(j => j.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var job in workflow.Jobs)
        {
            foreach (var need in job.Needs)
            {
                if (need == job.Id)
                    errors.Add(new(job.Location, $"jobs.{job.Id}.needs", $"job '{job.Id}' needs itself"));
                else if (!ids.Contains(need))
                    errors.Add(new(job.Location, $"jobs.{job.Id}.needs", $"'{need}' is not a job of this workflow (jobs: {string.Join(", ", ids.Order(StringComparer.Ordinal))})"));
            }
            var stepIds = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var step in job.Steps)
            {
                if (step.Id is { } sid && !stepIds.Add(sid))
                    errors.Add(new(step.Location, $"jobs.{job.Id}.steps[{step.Index}].id", $"'{sid}' is already the id of an earlier step of job '{job.Id}'"));
            }
            CheckTemplates(job, errors);
        }
        foreach (var cycle in FindCycles(workflow))
        {
            var first = workflow.FindJob(cycle[0])!;
            errors.Add(new(first.Location, $"jobs.{first.Id}.needs", $"needs cycle: {string.Join(" -> ", cycle)} -> {cycle[0]}"));
        }
        return errors;
    }

    /// <summary>Every elementary cycle found by a depth-first walk, each once (as the list of its job ids).</summary>
    internal static List<List<string>> FindCycles(WorkflowFile workflow)
    {
        var state = new Dictionary<string, int>(StringComparer.Ordinal); // 0 new, 1 on the stack, 2 done
        var stack = new List<string>();
        var cycles = new List<List<string>>();
        void Visit(string id)
        {
            state[id] = 1;
            stack.Add(id);
            foreach (var need in workflow.FindJob(id)?.Needs ?? [])
            {
                if (need == id || workflow.FindJob(need) is null) continue;
                var s = state.GetValueOrDefault(need);
                if (s == 1)
                    cycles.Add(stack[stack.IndexOf(need)..]);
                else if (s == 0)
                    Visit(need);
            }
            stack.RemoveAt(stack.Count - 1);
            state[id] = 2;
        }
        foreach (var job in workflow.Jobs)
            if (state.GetValueOrDefault(job.Id) == 0) Visit(job.Id);
        return cycles;
    }

    private static void CheckTemplates(JobDefinition job, List<WorkflowError> errors)
    {
        var p = $"jobs.{job.Id}";
        void Check(string? text, SourceLocation at, string key, bool isCondition = false, string[]? contexts = null)
        {
            if (text is null) return;
            try
            {
                var exprs = isCondition ? [Condition.Parse(text)] : TemplateString.Parse(text).Expressions;
                if (contexts is null) return;
                foreach (var name in exprs.SelectMany(ExpressionWalk.ContextNames))
                {
                    if (!contexts.Contains(name, StringComparer.OrdinalIgnoreCase))
                        errors.Add(new(at, key, $"context '{name}' is not available here (allowed: {string.Join(", ", contexts)})"));
                }
            }
            catch (ExpressionException e)
            {
                errors.Add(new(at, key, e.Message));
            }
        }
        Check(job.If, job.Location, p + ".if", isCondition: true, contexts: JobIfContexts);
        Check(job.Name, job.Location, p + ".name");
        Check(job.TimeoutMinutes, job.Location, p + ".timeout-minutes");
        Check(job.ContinueOnError, job.Location, p + ".continue-on-error");
        Check(job.Strategy?.MatrixTemplate, job.Location, p + ".strategy.matrix");
        foreach (var label in job.RunsOn) Check(label, job.Location, p + ".runs-on");
        foreach (var (k, v) in job.Env) Check(v, job.Location, $"{p}.env.{k}");
        foreach (var (k, v) in job.Outputs) Check(v, job.Location, $"{p}.outputs.{k}");
        foreach (var step in job.Steps)
        {
            var sp = $"{p}.steps[{step.Index}]";
            Check(step.If, step.Location, sp + ".if", isCondition: true);
            Check(step.Run, step.Location, sp + ".run");
            Check(step.Name, step.Location, sp + ".name");
            Check(step.WorkingDirectory, step.Location, sp + ".working-directory");
            Check(step.ContinueOnError, step.Location, sp + ".continue-on-error");
            Check(step.TimeoutMinutes, step.Location, sp + ".timeout-minutes");
            foreach (var (k, v) in step.Env) Check(v, step.Location, $"{sp}.env.{k}");
            foreach (var (k, v) in step.With) Check(v, step.Location, $"{sp}.with.{k}");
        }
    }
}
