using Sandbox.CiRunner.Expressions;

namespace Sandbox.CiRunner.Workflow;

/// <summary>A workflow file, parsed: only the documented subset (docs/ci.md). String values are kept as written, with
/// their <c>${{ }}</c> templates, and evaluated when their context exists.</summary>
public sealed record WorkflowFile
{
    public required string Path { get; init; }
    public string? Name { get; init; }
    /// <summary>The event names under <c>on</c> (informational: the event of a run is given on the command line).</summary>
    public IReadOnlyList<string> On { get; init; } = [];
    public IReadOnlyList<KeyValuePair<string, string>> Env { get; init; } = [];
    public RunDefaults Defaults { get; init; } = new();
    public required IReadOnlyList<JobDefinition> Jobs { get; init; }

    public JobDefinition? FindJob(string id) => Jobs.FirstOrDefault(j => j.Id == id);
}

/// <summary><c>defaults.run</c>: shell and working directory for <c>run</c> steps.</summary>
public sealed record RunDefaults(string? Shell = null, string? WorkingDirectory = null);

public sealed record JobDefinition
{
    public required string Id { get; init; }
    public required SourceLocation Location { get; init; }
    /// <summary>As written (may hold a template); null = the id.</summary>
    public string? Name { get; init; }
    public IReadOnlyList<string> Needs { get; init; } = [];
    /// <summary>Labels as written (each may be a template).</summary>
    public IReadOnlyList<string> RunsOn { get; init; } = [];
    public IReadOnlyList<KeyValuePair<string, string>> Env { get; init; } = [];
    public RunDefaults Defaults { get; init; } = new();
    /// <summary>A number or a template; null = 360 minutes.</summary>
    public string? TimeoutMinutes { get; init; }
    /// <summary>"true", "false" or a template; null = false.</summary>
    public string? ContinueOnError { get; init; }
    public string? If { get; init; }
    public MatrixStrategy? Strategy { get; init; }
    public IReadOnlyList<KeyValuePair<string, string>> Outputs { get; init; } = [];
    /// <summary><c>services</c>: service containers beside the job, sharing its network.</summary>
    public IReadOnlyList<ServiceDefinition> Services { get; init; } = [];
    public required IReadOnlyList<StepDefinition> Steps { get; init; }
}

/// <summary><c>strategy</c>: the matrix (an object as written, or one template to expand after <c>needs</c>),
/// fail-fast (default true) and max-parallel (default unlimited).</summary>
public sealed record MatrixStrategy
{
    /// <summary>The matrix object; null when <see cref="MatrixTemplate"/> is set.</summary>
    public ExprValue? Matrix { get; init; }
    public string? MatrixTemplate { get; init; }
    public bool FailFast { get; init; } = true;
    public int? MaxParallel { get; init; }
}

public sealed record StepDefinition
{
    public required SourceLocation Location { get; init; }
    /// <summary>0-based position in the job.</summary>
    public required int Index { get; init; }
    public string? Id { get; init; }
    public string? Name { get; init; }
    public string? Run { get; init; }
    public string? Shell { get; init; }
    public string? Uses { get; init; }
    public IReadOnlyList<KeyValuePair<string, string>> With { get; init; } = [];
    public IReadOnlyList<KeyValuePair<string, string>> Env { get; init; } = [];
    public string? WorkingDirectory { get; init; }
    public string? If { get; init; }
    public string? ContinueOnError { get; init; }
    public string? TimeoutMinutes { get; init; }

    /// <summary>What the log shows: the name, else the action, else the script's first line (as GitHub does).</summary>
    public string DisplayName => Name ?? (Uses is not null ? $"Run {Uses}" : "Run " + (Run ?? "").Split('\n')[0].Trim());
}
