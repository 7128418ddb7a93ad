using Sandbox.CiRunner.Execution;
using Sandbox.CiRunner.Expressions;
using Sandbox.CiRunner.Trust;
using Sandbox.CiRunner.Workflow;
using Sandbox.Core;

namespace Sandbox.CiRunner.Scheduling;

/// <summary>One job leg's decision, without running anything (<c>sandbox ci plan</c>): the CI policy's input and
/// decision, and the Core request it becomes (which the caller may pass to the sandbox policy's dry run).</summary>
public sealed record PlannedJob(string JobId, string Name, IReadOnlyList<string> Labels, CiTrustInput Input, CiTrustDecision Decision,
    SandboxRequest Request, string? Image, string? Note, IReadOnlyList<PlannedService> Services);

/// <summary>A job's service container as planned: its image and the Core request its sandbox will be (the job's trust,
/// no network of its own; it joins the job's at run time).</summary>
public sealed record PlannedService(string Label, string Image, SandboxRequest Request);

public static class RunPlanner
{
    public static IReadOnlyList<PlannedJob> Plan(WorkflowFile workflow, RunOptions run, CiPolicy policy)
    {
        var plan = new List<PlannedJob>();
        var github = GithubContext.Context(run, workflow.Name ?? Path.GetFileName(workflow.Path), "", new RunnerLayout("repo"), GithubContext.Event(run));
        foreach (var job in WorkflowRunner.Select(workflow, run.JobFilter))
        {
            string? note = null;
            IReadOnlyList<ExprObject?> legs = [null];
            if (job.Strategy?.Matrix is { } m)
            {
                try { legs = [.. MatrixExpander.Expand(m)]; }
                catch (ExpressionException e) { note = "strategy.matrix: " + e.Message; }
            }
            else if (job.Strategy?.MatrixTemplate is not null)
                note = "the matrix comes from an expression over needs: its legs are known at run time";
            foreach (var leg in legs)
            {
                var context = new EvaluationContext().With("github", github).With("matrix", leg is null ? ExprValue.Null : ExprValue.Object(leg))
                    .With("needs", ExprValue.Object(new ExprObject())).With("inputs", ExprValue.StringMap(run.Inputs)).With("vars", ExprValue.Object(new ExprObject()));
                var labels = job.RunsOn.Select(l => Evaluate(l, context)).ToList();
                var timeout = job.TimeoutMinutes is { } t && double.TryParse(Evaluate(t, context), System.Globalization.NumberStyles.Float,
                    System.Globalization.CultureInfo.InvariantCulture, out var minutes) && minutes > 0 ? minutes : JobRunner.DefaultTimeoutMinutes;
                var (input, decision, request, image) = JobRunner.Decide(policy, run, job, labels, timeout);
                var name = leg is null ? job.Name ?? job.Id : $"{job.Name ?? job.Id} {MatrixExpander.LegSuffix(leg)}";
                var services = job.Services.Select(d =>
                {
                    var serviceImage = Evaluate(d.Image, context);
                    return new PlannedService(d.Label, serviceImage, JobServices.Request(request, d.Label, serviceImage,
                        d.Env.ToDictionary(p => p.Key, p => Evaluate(p.Value, context), StringComparer.Ordinal), networkOf: null));
                }).ToList();
                plan.Add(new PlannedJob(job.Id, name, labels, input, decision, request, image, note, services));
            }
        }
        return plan;
    }

    private static string Evaluate(string text, EvaluationContext context)
    {
        try
        {
            return TemplateString.EvaluateString(text, context);
        }
        catch (ExpressionException)
        {
            return text;
        }
    }
}
