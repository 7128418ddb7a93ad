using System.Diagnostics;
using Sandbox.CiRunner.Execution.Actions;
using Sandbox.CiRunner.Expressions;
using Sandbox.CiRunner.Trust;
using Sandbox.CiRunner.Workflow;
using Sandbox.Core;
using Sandbox.Isolation;

namespace Sandbox.CiRunner.Execution;

/// <summary>One job leg, start to end: the CI policy's decision from who triggered the run, a fresh sandbox asked of
/// Core with it (tier, untrusted/provenance, egress, runner image, the job's timeout), the steps, the job's outputs,
/// and teardown — always, whatever happened (failure, timeout, Ctrl-C). A job over its timeout-minutes is killed and
/// marked timed out.</summary>
public sealed class JobRunner(IJobSandboxHost host, CiPolicy policy, IRunObserver observer, SecretMasker masker, ArtifactStore artifacts)
{
    public const double DefaultTimeoutMinutes = 360;

    /// <summary>The policy input and decision, and the Core request for a job leg (shared with <c>sandbox ci plan</c>).</summary>
    public static (CiTrustInput Input, CiTrustDecision Decision, SandboxRequest Request, string? Image) Decide(CiPolicy policy, RunOptions run,
        JobDefinition job, IReadOnlyList<string> labels, double timeoutMinutes)
    {
        var input = new CiTrustInput
        {
            Event = run.Event, Fork = run.Fork, Ref = run.Ref, Actor = run.Actor, Repository = run.Repository, Job = job.Id,
            RunsOn = labels, Egress = run.Egress,
        };
        var decision = policy.Decide(input);
        var image = labels.Select(l => run.RunnerImages.GetValueOrDefault(l)).FirstOrDefault(i => i is not null);
        if (image == DefaultRunnerImage.Host)
            image = null;
        var timeoutS = (int)Math.Ceiling(timeoutMinutes * 60);
        var request = new SandboxRequest
        {
            Tier = decision.Tier,
            Untrusted = !decision.Trusted,
            CodeProvenance = decision.Trust switch { "trusted" => "tenant", "fork" => "fork", _ => "unknown" },
            Egress = decision.Egress,
            Image = image,
            WorkDir = RunnerLayout.Home,
            // On a runner image the job is root inside its sandbox (as hosted runners' passwordless sudo makes it):
            // in a container, the first id of the sandbox's own unprivileged uid range, with no capabilities over the
            // host; in a microVM, the guest's root with its few capabilities (the VM is the boundary).
            User = image is not null ? "root" : null,
            // Service containers join this sandbox's network; their labels are its loopback's names (JobServices).
            LoopbackNames = [.. job.Services.Select(s => s.Label)],
            Resources = run.JobLimits with { TimeoutS = timeoutS },
            Ttl = TimeSpan.FromSeconds(Math.Min(timeoutS + 600, TimeSpan.FromHours(24).TotalSeconds)),
            Labels = new Dictionary<string, string> { ["ci.run"] = run.RunId.ToString(System.Globalization.CultureInfo.InvariantCulture), ["ci.job"] = job.Id },
        };
        return (input, decision, request, image);
    }

    public async Task RunAsync(RunOptions run, WorkflowFile workflow, JobDefinition job, JobResult result, JobContexts contexts, CancellationToken cancellationToken)
    {
        var started = Stopwatch.StartNew();
        // runs-on, timeout-minutes and continue-on-error are read before the policy decides: never with secrets.
        var jobContext = (contexts with { Secrets = ExprValue.Object(new ExprObject()) }).ForJob();
        IJobSandbox? sandbox = null;
        TimeSpan start = default, teardown = default;
        JobSession? session = null;
        JobServices? services = null;
        double timeoutMinutes = DefaultTimeoutMinutes;
        var continueOnError = false;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            var labels = job.RunsOn.Select(l => TemplateString.EvaluateString(l, jobContext)).ToList();
            if (job.TimeoutMinutes is { } tm)
                timeoutMinutes = StepRunner.Minutes(TemplateString.EvaluateString(tm, jobContext), "timeout-minutes");
            continueOnError = job.ContinueOnError is { } coe && TemplateString.Evaluate(coe, jobContext).IsTruthy;
            var (_, decision, request, image) = Decide(policy, run, job, labels, timeoutMinutes);
            result.Decision = decision;
            if (job.Services.Count > 0 && JobServices.Refusal(decision.Tier, decision.Trust) is { } refusal)
                throw new StepFailedException(refusal);
            if (!decision.Secrets)
                contexts = contexts with { Secrets = ExprValue.Object(new ExprObject()) };
            result.Image = image;
            timeout.CancelAfter(TimeSpan.FromMinutes(timeoutMinutes));
            var sw = Stopwatch.StartNew();
            sandbox = await host.CreateAsync(request, timeout.Token).ConfigureAwait(false);
            start = sw.Elapsed;
            result.SandboxId = sandbox.Id;
            result.Tier = sandbox.TierDescription;
            // The egress the job really has: the CI policy's entries the sandbox policy granted too (it may drop some,
            // e.g. every entry for untrusted code), so the job's start line never claims a network it does not have.
            var granted = sandbox.NetworkGranted;
            result.Egress = [.. decision.Egress.Where(e => granted.Any(g => g == e || g.StartsWith(e + " -> ", StringComparison.Ordinal)))];
            var dropped = decision.Egress.Except(result.Egress).ToList();
            var layout = new RunnerLayout(run.Repository[(run.Repository.IndexOf('/', StringComparison.Ordinal) + 1)..]);
            var eventPayload = contexts.Github.Properties["event"] ?? ExprValue.Null;
            using (var setup = new TarBuilder().Directory("work/").Directory("work/_temp/").Directory("work/_temp/_github_workflow/")
                .Directory("work/_temp/_runner_file_commands/").Directory("work/_tool/")
                .Directory(RunnerLayout.Shims[(RunnerLayout.Home.Length + 1)..] + "/")
                .File(RunnerLayout.Shims[(RunnerLayout.Home.Length + 1)..] + "/" + SudoShim.FileName, SudoShim.Script, (UnixFileMode)0b111_101_101)
                .Directory(layout.Workspace[(RunnerLayout.Home.Length + 1)..] + "/")
                .File("work/_temp/_github_workflow/event.json", eventPayload.ToJson()).Build())
                await sandbox.ImportTarAsync(RunnerLayout.Home, setup, timeout.Token).ConfigureAwait(false);
            observer.JobStarted(result);
            if (dropped.Count > 0)
                observer.Log(result, null, $"egress {string.Join(", ", dropped)}: granted by the CI policy, not by the sandbox policy (the job runs without it)");
            if (job.Services.Count > 0)
            {
                services = await JobServices.StartAsync(host, sandbox, request, job.Services, contexts.ForJob(),
                    line => observer.Log(result, null, masker.Mask(line)), timeout.Token).ConfigureAwait(false);
                contexts = contexts with { Services = services.Context };
            }
            session = new JobSession
            {
                Run = run, Workflow = workflow, Job = job, Result = result, Contexts = contexts, Sandbox = sandbox, Layout = layout,
                Masker = masker, Observer = observer, Artifacts = artifacts, RunnerName = $"sandbox-{sandbox.Id}",
            };
            foreach (var (k, v) in workflow.Env) session.Env[k] = TemplateString.EvaluateString(v, contexts.ForJob(JobContexts.EnvValue(session.Env)));
            foreach (var (k, v) in job.Env) session.Env[k] = TemplateString.EvaluateString(v, contexts.ForJob(JobContexts.EnvValue(session.Env)));
            foreach (var step in job.Steps)
                await RunStepAsync(session, step, timeout.Token, cancellationToken).ConfigureAwait(false);
            if (!result.Steps.Any(s => s.Conclusion == Conclusion.Failure))
            {
                foreach (var post in session.PostSteps)
                    await post(timeout.Token).ConfigureAwait(false);
            }
            var outputsContext = session.StepContext([]);
            foreach (var (k, v) in job.Outputs)
            {
                var value = TemplateString.EvaluateString(v, outputsContext);
                if (masker.Contains(value))
                    session.Log(null, $"warning: output '{k}' skipped since it may contain a secret");
                else
                    result.Outputs[k] = value;
            }
            result.Outcome = result.Steps.Any(s => s.Conclusion is Conclusion.Failure) ? Conclusion.Failure
                : result.Steps.Any(s => s.Conclusion is Conclusion.Cancelled) ? Conclusion.Cancelled : Conclusion.Success;
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            TimedOut(result, timeoutMinutes);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            result.Outcome = Conclusion.Cancelled;
            result.Error ??= "the run was cancelled";
        }
        catch (Exception e) when (e is SandboxException or ExpressionException or StepFailedException or IOException or InvalidDataException or ArgumentException)
        {
            result.Outcome = Conclusion.Failure;
            result.Error = masker.Mask(e.Message);
        }
        finally
        {
            if (services is not null)
                await services.DisposeAsync().ConfigureAwait(false);
            if (sandbox is not null)
            {
                var sw = Stopwatch.StartNew();
                await sandbox.DisposeAsync().ConfigureAwait(false);
                teardown = sw.Elapsed;
            }
            result.Overhead = sandbox is null ? null : new JobOverhead(start, session?.CheckoutTime ?? TimeSpan.Zero, teardown);
            result.Duration = started.Elapsed;
        }
        if (result.Outcome == Conclusion.Success && timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            TimedOut(result, timeoutMinutes);
        result.Conclusion = result.Outcome == Conclusion.Failure && continueOnError ? Conclusion.Success : result.Outcome;
        observer.JobFinished(result);
    }

    private static void TimedOut(JobResult result, double minutes)
    {
        result.Outcome = Conclusion.Cancelled;
        result.TimedOut = true;
        result.Error = $"the job ran past its timeout-minutes ({minutes:0.##}) and was cancelled";
    }

    private async Task RunStepAsync(JobSession session, StepDefinition step, CancellationToken jobToken, CancellationToken runToken)
    {
        var result = new StepResult { Index = step.Index, Name = masker.Mask(step.DisplayName), Id = step.Id };
        session.Result.Steps.Add(result);
        var failed = session.Result.Steps.Any(s => s.Conclusion == Conclusion.Failure);
        var cancelled = jobToken.IsCancellationRequested;
        var stepEnvPairs = new List<KeyValuePair<string, string>>();
        var continueOnError = false;
        var sw = Stopwatch.StartNew();
        try
        {
            // The step's if sees the env and steps so far, and the job's status.
            var ifContext = session.StepContext([], new StatusFunctions(!failed && !cancelled, failed, cancelled));
            if (cancelled || !Condition.Evaluate(step.If, ifContext))
            {
                result.Outcome = result.Conclusion = Conclusion.Skipped;
                RecordStep(session, step, result);
                return;
            }
            foreach (var (k, v) in step.Env)
                stepEnvPairs.Add(KeyValuePair.Create(k, TemplateString.EvaluateString(v, session.StepContext(stepEnvPairs))));
            var hashes = await HashFilesAsync(session, step, stepEnvPairs, jobToken).ConfigureAwait(false);
            var context = session.StepContext(stepEnvPairs, hashFiles: hashes);
            var displayName = step.Name is { } n ? session.Evaluate(n, context) : step.DisplayName;
            result.Name = session.Masker.Mask(displayName);
            observer.StepStarted(session.Result, result);
            continueOnError = step.ContinueOnError is { } coe && TemplateString.Evaluate(coe, context).IsTruthy;
            int? exitCode;
            if (step.Run is not null)
                exitCode = await StepRunner.RunScriptAsync(session, step, result, context, stepEnvPairs.ToDictionary(StringComparer.Ordinal), jobToken).ConfigureAwait(false);
            else
            {
                var with = step.With.ToDictionary(p => p.Key, p => session.Evaluate(p.Value, context), StringComparer.OrdinalIgnoreCase);
                await RunActionAsync(session, step, result, with, jobToken).ConfigureAwait(false);
                exitCode = 0;
            }
            result.ExitCode = exitCode;
            result.Outcome = exitCode == 0 && !result.TimedOut ? Conclusion.Success : Conclusion.Failure;
            if (result.Outcome == Conclusion.Failure && result.Error is null)
                result.Error = $"process completed with exit code {exitCode}";
            result.Conclusion = result.Outcome == Conclusion.Failure && continueOnError ? Conclusion.Success : result.Outcome;
        }
        catch (OperationCanceledException) when (jobToken.IsCancellationRequested)
        {
            result.Outcome = result.Conclusion = Conclusion.Cancelled;
            result.Error = runToken.IsCancellationRequested ? "cancelled" : "the job's timeout-minutes passed: killed";
            Finish(session, step, result, sw);
            throw;
        }
        catch (Exception e) when (e is SandboxException or ExpressionException or StepFailedException or IOException or InvalidDataException or ArgumentException)
        {
            // continue-on-error covers a failing action as it covers a failing script.
            result.Outcome = Conclusion.Failure;
            result.Conclusion = continueOnError ? Conclusion.Success : Conclusion.Failure;
            result.Error = session.Masker.Mask(e.Message);
            session.Log(result, "error: " + result.Error);
        }
        Finish(session, step, result, sw);
    }

    private void Finish(JobSession session, StepDefinition step, StepResult result, Stopwatch sw)
    {
        result.Duration = sw.Elapsed;
        RecordStep(session, step, result);
        observer.StepFinished(session.Result, result);
    }

    private static void RecordStep(JobSession session, StepDefinition step, StepResult result)
    {
        if (step.Id is null) return;
        session.Steps[step.Id] = ExprValue.Object([
            KeyValuePair.Create("outputs", ExprValue.StringMap(result.Outputs)),
            KeyValuePair.Create("outcome", ExprValue.String(result.Outcome.Name())),
            KeyValuePair.Create("conclusion", ExprValue.String(result.Conclusion.Name())),
        ]);
    }

    private static Task RunActionAsync(JobSession session, StepDefinition step, StepResult result, Dictionary<string, string> with, CancellationToken cancellationToken) =>
        BuiltinActions.Normalize(step.Uses!) switch
        {
            BuiltinActions.Checkout => CheckoutAction.RunAsync(session, result, with, cancellationToken),
            BuiltinActions.UploadArtifact => ArtifactActions.UploadAsync(session, result, with, cancellationToken),
            BuiltinActions.DownloadArtifact => ArtifactActions.DownloadAsync(session, result, with, cancellationToken),
            BuiltinActions.Cache => CacheAction.RunAsync(session, result, with, cancellationToken),
            var other => throw new StepFailedException($"action '{other}' is not supported"),
        };

    /// <summary>Every hashFiles(...) the step's values call, computed in the sandbox before they are evaluated.</summary>
    private static async Task<Dictionary<string, string>> HashFilesAsync(JobSession session, StepDefinition step, List<KeyValuePair<string, string>> stepEnv,
        CancellationToken cancellationToken)
    {
        var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
        var texts = new[] { step.Run, step.Name, step.WorkingDirectory }.Concat(step.With.Select(w => w.Value)).OfType<string>();
        var context = session.StepContext(stepEnv);
        foreach (var text in texts.Where(TemplateString.HasExpressions))
        {
            foreach (var call in TemplateString.Parse(text).Expressions.SelectMany(ExpressionWalk.HashFilesCalls))
            {
                var args = call.Args.Select(a => Evaluator.Evaluate(a, context).ToDisplayString()).ToList();
                var key = EvaluationContext.HashFilesKey(args);
                if (!hashes.ContainsKey(key))
                    hashes[key] = await HashFiles.ComputeAsync(session, args, cancellationToken).ConfigureAwait(false);
            }
        }
        return hashes;
    }
}
