using Sandbox.CiRunner.Execution;

namespace Sandbox.Cli.Commands.Ci;

/// <summary>Progress as prefixed, timestamped lines (`HH:mm:ss.fff [job] ...`), for logs and pipes: every log line of
/// every job, each step with its duration and result, the decision per job (trust, tier, egress) at its start.</summary>
internal sealed class PlainProgress(TextWriter output) : IRunObserver
{
    private readonly Lock _lock = new();

    public void JobQueued(JobResult job) { }

    public void JobStarted(JobResult job) =>
        Write(job, $"started in {job.Tier} sandbox {job.SandboxId}: trust {job.Decision?.Trust}, egress {(job.Egress.Count == 0 ? "none" : string.Join(", ", job.Egress))}{(job.Image is null ? "" : ", image " + job.Image)}");

    public void StepStarted(JobResult job, StepResult step) => Write(job, $"> {step.Name}");

    public void Log(JobResult job, StepResult? step, string line) => Write(job, "  " + line);

    public void StepFinished(JobResult job, StepResult step) =>
        Write(job, $"< {step.Name}: {step.Conclusion.Name()}{(step.Outcome != step.Conclusion ? $" (outcome {step.Outcome.Name()})" : "")} in {step.Duration.TotalSeconds:0.00} s{(step.Error is null ? "" : ": " + step.Error)}");

    public void JobFinished(JobResult job) =>
        Write(job, $"finished: {job.Conclusion.Name()}{(job.Duration > TimeSpan.Zero ? $" in {job.Duration.TotalSeconds:0.00} s" : "")}{(job.Error is null ? "" : ": " + job.Error)}");

    private void Write(JobResult job, string text)
    {
        lock (_lock)
            output.WriteLine($"{DateTime.Now:HH:mm:ss.fff} [{job.Name}] {text}");
    }
}
