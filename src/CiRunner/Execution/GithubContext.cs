using Sandbox.CiRunner.Expressions;

namespace Sandbox.CiRunner.Execution;

/// <summary>The <c>github</c> context and its webhook payload (<c>github.event</c>, also written to
/// $GITHUB_EVENT_PATH), and the GITHUB_*/RUNNER_* variables every step gets, from the run's options.</summary>
public static class GithubContext
{
    public static ExprValue Event(RunOptions run)
    {
        var (owner, name) = Split(run.Repository);
        var repository = Obj(("full_name", S(run.Repository)), ("name", S(name)), ("owner", Obj(("login", S(owner)))));
        if (run.IsPullRequest)
        {
            var number = PullNumber(run.Ref);
            var headRepo = Obj(("fork", ExprValue.Bool(run.Fork)), ("full_name", S(run.Fork ? $"{run.Actor}/{name}" : run.Repository)));
            return Obj(("action", S("synchronize")), ("number", ExprValue.Number(number)), ("repository", repository),
                ("pull_request", Obj(("number", ExprValue.Number(number)),
                    ("head", Obj(("ref", S("pr-" + number)), ("sha", S(run.Sha)), ("repo", headRepo))),
                    ("base", Obj(("ref", S("main")), ("sha", S(run.Sha)), ("repo", Obj(("full_name", S(run.Repository)))))))));
        }
        return Obj(("ref", S(run.Ref)), ("before", S(new string('0', 40))), ("after", S(run.Sha)), ("repository", repository),
            ("head_commit", Obj(("id", S(run.Sha)), ("message", S("")))), ("commits", ExprValue.Array([])));
    }

    public static ExprValue Context(RunOptions run, string workflowName, string jobId, RunnerLayout layout, ExprValue eventPayload)
    {
        var o = new ExprObject();
        foreach (var (k, v) in Variables(run, workflowName, jobId, layout))
            o[k["GITHUB_".Length..].ToLowerInvariant()] = S(v);
        o["event"] = eventPayload;
        o["token"] = S("");
        o["triggering_actor"] = S(run.Actor);
        return ExprValue.Object(o);
    }

    /// <summary>The GITHUB_* variables that mirror the github context (the per-step file paths are added by the step).</summary>
    public static IEnumerable<KeyValuePair<string, string>> Variables(RunOptions run, string workflowName, string jobId, RunnerLayout layout)
    {
        var (owner, _) = Split(run.Repository);
        var pairs = new List<KeyValuePair<string, string>>
        {
            new("GITHUB_ACTOR", run.Actor),
            new("GITHUB_REPOSITORY", run.Repository),
            new("GITHUB_REPOSITORY_OWNER", owner),
            new("GITHUB_SHA", run.Sha),
            new("GITHUB_REF", run.Ref),
            new("GITHUB_REF_NAME", run.RefName),
            new("GITHUB_REF_TYPE", run.Ref.StartsWith("refs/tags/", StringComparison.Ordinal) ? "tag" : "branch"),
            new("GITHUB_EVENT_NAME", run.Event),
            new("GITHUB_EVENT_PATH", RunnerLayout.EventPath),
            new("GITHUB_WORKSPACE", layout.Workspace),
            new("GITHUB_JOB", jobId),
            new("GITHUB_RUN_ID", run.RunId.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            new("GITHUB_RUN_NUMBER", run.RunNumber.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            new("GITHUB_RUN_ATTEMPT", "1"),
            new("GITHUB_WORKFLOW", workflowName),
        };
        if (run.IsPullRequest)
        {
            pairs.Add(new("GITHUB_BASE_REF", "main"));
            pairs.Add(new("GITHUB_HEAD_REF", "pr-" + PullNumber(run.Ref)));
        }
        return pairs;
    }

    public static IEnumerable<KeyValuePair<string, string>> RunnerVariables(string runnerName) =>
    [
        new("CI", "true"),
        new("GITHUB_ACTIONS", "true"),
        new("RUNNER_OS", "Linux"),
        new("RUNNER_ARCH", System.Runtime.InteropServices.RuntimeInformation.OSArchitecture == System.Runtime.InteropServices.Architecture.Arm64 ? "ARM64" : "X64"),
        new("RUNNER_NAME", runnerName),
        new("RUNNER_TEMP", RunnerLayout.Temp),
        new("RUNNER_TOOL_CACHE", RunnerLayout.ToolCache),
        new("RUNNER_ENVIRONMENT", "self-hosted"),
        new("HOME", RunnerLayout.Home),
        new("DEBIAN_FRONTEND", "noninteractive"),
    ];

    public static ExprValue Runner(string runnerName) => ExprValue.StringMap(
    [
        new("os", "Linux"),
        new("arch", RunnerVariables(runnerName).First(p => p.Key == "RUNNER_ARCH").Value),
        new("name", runnerName),
        new("temp", RunnerLayout.Temp),
        new("tool_cache", RunnerLayout.ToolCache),
        new("environment", "self-hosted"),
        new("debug", ""),
    ]);

    private static int PullNumber(string @ref)
    {
        var parts = @ref.Split('/');
        return parts.Length >= 3 && parts[1] == "pull" && int.TryParse(parts[2], out var n) ? n : 0;
    }

    private static (string Owner, string Name) Split(string repository)
    {
        var slash = repository.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? (repository, repository) : (repository[..slash], repository[(slash + 1)..]);
    }

    private static ExprValue S(string s) => ExprValue.String(s);

    private static ExprValue Obj(params (string Key, ExprValue Value)[] pairs) => ExprValue.Object(pairs.Select(p => KeyValuePair.Create(p.Key, p.Value)));
}
