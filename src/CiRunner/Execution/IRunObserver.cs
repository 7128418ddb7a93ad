namespace Sandbox.CiRunner.Execution;

/// <summary>Live progress of a run, for a face to render (a table on a terminal, timestamped lines otherwise). Called
/// from several jobs at once: implementations synchronise themselves. Every text is already masked.</summary>
public interface IRunObserver
{
    void JobQueued(JobResult job);

    /// <summary>The job's sandbox is up: <see cref="JobResult.Decision"/>, tier and egress are set.</summary>
    void JobStarted(JobResult job);

    void StepStarted(JobResult job, StepResult step);

    void Log(JobResult job, StepResult? step, string line);

    void StepFinished(JobResult job, StepResult step);

    void JobFinished(JobResult job);
}

/// <summary>An observer that shows nothing (tests, reports only).</summary>
public sealed class NullRunObserver : IRunObserver
{
    public static readonly NullRunObserver Instance = new();
    public void JobQueued(JobResult job) { }
    public void JobStarted(JobResult job) { }
    public void StepStarted(JobResult job, StepResult step) { }
    public void Log(JobResult job, StepResult? step, string line) { }
    public void StepFinished(JobResult job, StepResult step) { }
    public void JobFinished(JobResult job) { }
}
