using Sandbox.CiRunner.Expressions;
using Sandbox.CiRunner.Workflow;

namespace Sandbox.CiRunner.Execution;

/// <summary>The state of one job leg while its steps run: its sandbox, paths, the env and PATH its steps built up
/// through $GITHUB_ENV and $GITHUB_PATH, the steps context, and where its log lines go.</summary>
public sealed class JobSession
{
    public required RunOptions Run { get; init; }
    public required WorkflowFile Workflow { get; init; }
    public required JobDefinition Job { get; init; }
    public required JobResult Result { get; init; }
    public required JobContexts Contexts { get; init; }
    public required IJobSandbox Sandbox { get; init; }
    public required RunnerLayout Layout { get; init; }
    public required SecretMasker Masker { get; init; }
    public required IRunObserver Observer { get; init; }
    public required ArtifactStore Artifacts { get; init; }
    public required string RunnerName { get; init; }

    /// <summary>Workflow env, then job env, then what steps wrote to $GITHUB_ENV (later wins).</summary>
    public Dictionary<string, string> Env { get; } = new(StringComparer.Ordinal);

    /// <summary>$GITHUB_PATH entries, newest first.</summary>
    public List<string> PathPrepends { get; } = [];

    /// <summary>steps.&lt;id&gt;.{outputs, outcome, conclusion}.</summary>
    public ExprObject Steps { get; } = new();

    /// <summary>actions/cache saves to run after the steps (its post step), when the job succeeded.</summary>
    public List<Func<CancellationToken, Task>> PostSteps { get; } = [];

    public TimeSpan CheckoutTime { get; set; }

    public string JobStatus => Result.Steps.Any(s => s.Conclusion == Conclusion.Failure) ? "failure" : "success";

    public void Log(StepResult? step, string line)
    {
        var masked = Masker.Mask(line);
        if (step is not null)
        {
            lock (step.LogTail)
            {
                step.LogTail.Add(masked);
                if (step.LogTail.Count > 100) step.LogTail.RemoveAt(0);
            }
        }
        Observer.Log(Result, step, masked);
    }

    public EvaluationContext StepContext(IEnumerable<KeyValuePair<string, string>> stepEnv, StatusFunctions? status = null,
        IReadOnlyDictionary<string, string>? hashFiles = null) =>
        Contexts.ForStep(JobContexts.EnvValue(Env.Concat(stepEnv)), ExprValue.Object(Steps), JobStatus, status, hashFiles);

    public string Evaluate(string text, EvaluationContext context) => TemplateString.EvaluateString(text, context);

    /// <summary>Copies host files into a sandbox directory, streamed. A target under the workspace travels as names
    /// below it (so missing parents are made); another must have an existing parent.</summary>
    public Task ImportFilesAsync(string hostRoot, IReadOnlyList<string> files, string target, Action<string> warn, CancellationToken cancellationToken)
    {
        var (into, prefix) = target.StartsWith(Layout.Workspace + "/", StringComparison.Ordinal)
            ? (Layout.Workspace, target[(Layout.Workspace.Length + 1)..])
            : (target, "");
        return TarPipe.TransferAsync(
            (tar, ct) => HostDirectoryTar.WriteAsync(hostRoot, files, tar, warn, ct, prefix),
            (tar, ct) => Sandbox.ImportTarAsync(into, tar, ct),
            cancellationToken);
    }

    /// <summary>A path a step names, relative to the workspace unless absolute.</summary>
    public string ResolvePath(string path) => Layout.Resolve(path);
}
