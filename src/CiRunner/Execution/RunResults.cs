using Sandbox.CiRunner.Trust;

namespace Sandbox.CiRunner.Execution;

/// <summary>GitHub's result words: a step's outcome and conclusion, a job's result (needs.&lt;id&gt;.result).</summary>
public enum Conclusion { Success, Failure, Cancelled, Skipped }

public static class ConclusionNames
{
    public static string Name(this Conclusion c) => c switch
    {
        Conclusion.Success => "success",
        Conclusion.Failure => "failure",
        Conclusion.Cancelled => "cancelled",
        _ => "skipped",
    };
}

public sealed class StepResult
{
    public required int Index { get; init; }
    public required string Name { get; set; }
    public string? Id { get; init; }
    public Conclusion Outcome { get; set; } = Conclusion.Skipped;
    public Conclusion Conclusion { get; set; } = Conclusion.Skipped;
    public TimeSpan Duration { get; set; }
    public int? ExitCode { get; set; }
    public bool TimedOut { get; set; }
    /// <summary>Why it failed, when not its exit code alone (masked).</summary>
    public string? Error { get; set; }
    public Dictionary<string, string> Outputs { get; } = new(StringComparer.OrdinalIgnoreCase);
    /// <summary>The last lines of its log (masked), for the reports.</summary>
    public List<string> LogTail { get; } = [];
}

/// <summary>What the job's sandbox cost, for the overhead measurement: create (policy + start), checkout, teardown.</summary>
public sealed record JobOverhead(TimeSpan Start, TimeSpan Checkout, TimeSpan Teardown);

public sealed class JobResult
{
    /// <summary>The job's id in the workflow.</summary>
    public required string JobId { get; init; }
    /// <summary>The display name: the job's name, with the matrix values of its leg.</summary>
    public required string Name { get; init; }
    public Conclusion Outcome { get; set; } = Conclusion.Skipped;
    public Conclusion Conclusion { get; set; } = Conclusion.Skipped;
    public bool TimedOut { get; set; }
    public string? Error { get; set; }
    public CiTrustDecision? Decision { get; set; }
    /// <summary>The tier the sandbox really got, as Core reported it ("container", "microvm"), and its accelerator.</summary>
    public string? Tier { get; set; }
    public string? SandboxId { get; set; }
    public IReadOnlyList<string> Egress { get; set; } = [];
    public string? Image { get; set; }
    public TimeSpan Duration { get; set; }
    public JobOverhead? Overhead { get; set; }
    public List<StepResult> Steps { get; } = [];
    public Dictionary<string, string> Outputs { get; } = new(StringComparer.OrdinalIgnoreCase);
    public string StepSummary { get; set; } = "";
}

public sealed class RunResult
{
    public required string Workflow { get; init; }
    public required IReadOnlyList<JobResult> Jobs { get; init; }
    public TimeSpan Duration { get; init; }
    public bool Cancelled { get; init; }

    /// <summary>A run succeeds when no job concluded failure or cancelled (continue-on-error jobs conclude success).</summary>
    public bool Succeeded => !Cancelled && Jobs.All(j => j.Conclusion is Conclusion.Success or Conclusion.Skipped);
}
