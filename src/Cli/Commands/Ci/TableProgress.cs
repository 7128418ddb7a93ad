using Sandbox.CiRunner.Execution;
using Spectre.Console;

namespace Sandbox.Cli.Commands.Ci;

/// <summary>Progress as a live table of jobs (Spectre.Console) on a terminal: status, current step, tier, trust,
/// egress, time. Redrawn when something changes (a signal, not a timer); log lines of failed steps are printed after
/// the table.</summary>
internal sealed class TableProgress : IRunObserver
{
    private readonly Lock _lock = new();
    private readonly List<JobResult> _jobs = [];
    private readonly Dictionary<JobResult, string> _current = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async Task<T> RunAsync<T>(Func<IRunObserver, Task<T>> run)
    {
        var task = run(this);
        await AnsiConsole.Live(Render()).AutoClear(false).StartAsync(async ctx =>
        {
            while (!task.IsCompleted)
            {
                Task changed;
                lock (_lock) changed = _changed.Task;
                await Task.WhenAny(task, changed).ConfigureAwait(false);
                lock (_lock) _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
                ctx.UpdateTarget(Render());
                ctx.Refresh();
            }
            ctx.UpdateTarget(Render());
        }).ConfigureAwait(false);
        var result = await task.ConfigureAwait(false);
        foreach (var job in _jobs)
            foreach (var step in job.Steps.Where(s => s.Outcome == Conclusion.Failure))
            {
                AnsiConsole.MarkupLine($"[red]{Markup.Escape(job.Name)} / {Markup.Escape(step.Name)}[/]: {Markup.Escape(step.Error ?? "failed")}");
                foreach (var line in step.LogTail.TakeLast(30))
                    AnsiConsole.WriteLine("    " + line);
            }
        return result;
    }

    private Table Render()
    {
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumns("Job", "Status", "Step", "Sandbox", "Trust", "Egress", "Time");
        lock (_lock)
        {
            foreach (var job in _jobs)
            {
                var status = job.Conclusion switch
                {
                    _ when _current.ContainsKey(job) => "[yellow]running[/]",
                    Conclusion.Success when job.Duration > TimeSpan.Zero => "[green]success[/]",
                    Conclusion.Failure => "[red]failure[/]",
                    Conclusion.Cancelled => job.TimedOut ? "[red]timed out[/]" : "[grey]cancelled[/]",
                    Conclusion.Skipped when job.Duration > TimeSpan.Zero || job.Error is not null => "[grey]skipped[/]",
                    _ => "[grey]queued[/]",
                };
                table.AddRow(Markup.Escape(job.Name), status, Markup.Escape(_current.GetValueOrDefault(job) ?? (job.Error ?? "")),
                    Markup.Escape(job.Tier ?? ""), Markup.Escape(job.Decision?.Trust ?? ""), Markup.Escape(string.Join(", ", job.Egress)),
                    job.Duration > TimeSpan.Zero ? $"{job.Duration.TotalSeconds:0.0} s" : "");
            }
        }
        return table;
    }

    private void Changed(Action update)
    {
        lock (_lock)
        {
            update();
            _changed.TrySetResult();
        }
    }

    public void JobQueued(JobResult job) => Changed(() => _jobs.Add(job));
    public void JobStarted(JobResult job) => Changed(() => _current[job] = "starting");
    public void StepStarted(JobResult job, StepResult step) => Changed(() => _current[job] = step.Name);
    public void Log(JobResult job, StepResult? step, string line) { }
    public void StepFinished(JobResult job, StepResult step) => Changed(() => _current[job] = $"{step.Name}: {step.Conclusion.Name()} ({step.Duration.TotalSeconds:0.0} s)");
    public void JobFinished(JobResult job) => Changed(() => _current.Remove(job));
}
