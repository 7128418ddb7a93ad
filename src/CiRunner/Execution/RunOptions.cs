using Sandbox.Core;

namespace Sandbox.CiRunner.Execution;

/// <summary>One run of a workflow: who triggered it (the policy's input; never read from the workflow file), what to
/// run, and where things go.</summary>
public sealed record RunOptions
{
    /// <summary>The host directory checked out into each job (actions/checkout).</summary>
    public required string WorkspaceSource { get; init; }
    public string Event { get; init; } = "push";
    public bool Fork { get; init; }
    /// <summary>refs/heads/BRANCH, refs/tags/TAG or refs/pull/N/merge.</summary>
    public required string Ref { get; init; }
    public required string Sha { get; init; }
    public required string Actor { get; init; }
    /// <summary>owner/name.</summary>
    public required string Repository { get; init; }
    /// <summary>Only these jobs (and what they need); empty = all.</summary>
    public IReadOnlyList<string> JobFilter { get; init; } = [];
    /// <summary>Jobs running at once, across the whole run (--jobs N).</summary>
    public int MaxParallelJobs { get; init; } = 2;
    /// <summary>The egress each job asks for (HOST or HOST:PORT); the CI policy filters it.</summary>
    public IReadOnlyList<string> Egress { get; init; } = [];
    public IReadOnlyDictionary<string, string> Secrets { get; init; } = new Dictionary<string, string>();
    /// <summary>Limits every job's sandbox asks for (memory, vCPUs, disk; null = the sandbox policy's default); the
    /// timeout always comes from the job's timeout-minutes. The sandbox policy caps them at the tenant's ceilings.</summary>
    public RequestedLimits JobLimits { get; init; } = new();
    /// <summary><c>runs-on</c> label → runner image (<see cref="DefaultRunnerImage.Host"/>: the host's userland); a label not
    /// listed runs on the host's userland. The CLI fills in <see cref="DefaultRunnerImage"/> when none is given.</summary>
    public IReadOnlyDictionary<string, string> RunnerImages { get; init; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
    /// <summary>Where uploaded artifacts go (kept after the run); null = a temporary directory, removed at the end.</summary>
    public string? ArtifactsDirectory { get; init; }
    /// <summary>actions/cache's store on the host, one scope per trust level.</summary>
    public string CacheDirectory { get; init; } = "/var/cache/sandbox/ci-cache";
    public long RunId { get; init; } = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
    public int RunNumber { get; init; } = 1;
    /// <summary>The webhook payload's inputs (workflow_dispatch); empty here.</summary>
    public IReadOnlyDictionary<string, string> Inputs { get; init; } = new Dictionary<string, string>();

    public string RefName => Ref.StartsWith("refs/heads/", StringComparison.Ordinal) ? Ref["refs/heads/".Length..]
        : Ref.StartsWith("refs/tags/", StringComparison.Ordinal) ? Ref["refs/tags/".Length..]
        : Ref.StartsWith("refs/pull/", StringComparison.Ordinal) ? Ref["refs/pull/".Length..]
        : Ref;

    public bool IsPullRequest => Event is "pull_request" or "pull_request_target";
}
