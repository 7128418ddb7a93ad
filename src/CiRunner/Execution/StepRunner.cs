using Sandbox.CiRunner.Expressions;
using Sandbox.CiRunner.Workflow;
using Sandbox.Isolation;

namespace Sandbox.CiRunner.Execution;

/// <summary>Runs one <c>run</c> step in the job's sandbox, as GitHub's runner does: the script written to
/// $RUNNER_TEMP with fresh environment files, the shell's command line, env (workflow → job → $GITHUB_ENV → step),
/// PATH with $GITHUB_PATH first, working-directory on the workspace, timeout-minutes; afterwards the environment files
/// are read back (GITHUB_ENV, GITHUB_OUTPUT, GITHUB_PATH, GITHUB_STEP_SUMMARY).</summary>
public static class StepRunner
{
    public static async Task<int?> RunScriptAsync(JobSession session, StepDefinition step, StepResult result, EvaluationContext context,
        IReadOnlyDictionary<string, string> stepEnv, CancellationToken cancellationToken)
    {
        var script = session.Evaluate(step.Run!, context);
        var shell = step.Shell ?? session.Job.Defaults.Shell ?? session.Workflow.Defaults.Shell;
        var workingDirectory = step.WorkingDirectory ?? session.Job.Defaults.WorkingDirectory ?? session.Workflow.Defaults.WorkingDirectory;
        var cwd = session.Layout.Resolve(workingDirectory is null ? null : session.Evaluate(workingDirectory, context));
        var guid = Guid.NewGuid().ToString("N");
        var scriptName = guid + ShellCommand.Extension(shell);
        var files = new Dictionary<string, string>
        {
            ["GITHUB_ENV"] = $"set_env_{guid}",
            ["GITHUB_OUTPUT"] = $"set_output_{guid}",
            ["GITHUB_PATH"] = $"add_path_{guid}",
            ["GITHUB_STEP_SUMMARY"] = $"step_summary_{guid}",
            ["GITHUB_STATE"] = $"save_state_{guid}",
        };
        var tar = new TarBuilder().File(scriptName, script, (UnixFileMode)0b111_101_101).Directory("_runner_file_commands/");
        foreach (var name in files.Values) tar.File("_runner_file_commands/" + name, "");
        using (var ms = tar.Build())
            await session.Sandbox.ImportTarAsync(RunnerLayout.Temp, ms, cancellationToken).ConfigureAwait(false);

        var env = BuildEnv(session, step, stepEnv);
        foreach (var (k, v) in files) env[k] = $"{RunnerLayout.FileCommands}/{v}";
        var timeout = step.TimeoutMinutes is { } tm ? TimeSpan.FromMinutes(Minutes(session.Evaluate(tm, context), "timeout-minutes")) : (TimeSpan?)null;
        var process = new ProcessSpec
        {
            Argv = ShellCommand.Argv(shell, $"{RunnerLayout.Temp}/{scriptName}"),
            Env = env,
            WorkingDirectory = cwd,
            Timeout = timeout,
        };
        var commands = new WorkflowCommands(session.Masker);
        void OnLine(string line)
        {
            if (commands.Process(line) is { } shown) session.Log(result, shown);
        }
        var stdout = new LineWriterStream(OnLine);
        var stderr = new LineWriterStream(OnLine);
        ExitStatus status;
        await using (stdout.ConfigureAwait(false))
        await using (stderr.ConfigureAwait(false))
        {
            status = await session.Sandbox.RunAsync(process, stdout, stderr, cancellationToken).ConfigureAwait(false);
            stdout.Complete();
            stderr.Complete();
        }
        result.TimedOut = status.TimedOut;
        if (status.TimedOut)
            result.Error = $"the step ran past its timeout-minutes ({timeout?.TotalMinutes:0.##}) and was killed";
        else if (status.OomKilled)
            result.Error = "the step was killed by the OOM killer (the sandbox's memory limit)";
        await ReadFileCommandsAsync(session, result, files, cancellationToken).ConfigureAwait(false);
        return status.ExitCode;
    }

    /// <summary>The process env: the runner's variables, the job's env, the step's env, then PATH.</summary>
    private static Dictionary<string, string> BuildEnv(JobSession session, StepDefinition step, IReadOnlyDictionary<string, string> stepEnv)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in GithubContext.RunnerVariables(session.RunnerName)) env[k] = v;
        foreach (var (k, v) in GithubContext.Variables(session.Run, session.Workflow.Name ?? Path.GetFileName(session.Workflow.Path), session.Job.Id, session.Layout)) env[k] = v;
        env["GITHUB_ACTION"] = step.Id ?? (step.Index == 0 ? "__run" : $"__run_{step.Index + 1}");
        foreach (var (k, v) in session.Env) env[k] = v;
        foreach (var (k, v) in stepEnv) env[k] = v;
        var basePath = env.GetValueOrDefault("PATH") ?? DefaultEnvironment.Path;
        var path = RunnerLayout.Shims + ":" + basePath;
        env["PATH"] = session.PathPrepends.Count == 0 ? path : string.Join(':', session.PathPrepends) + ":" + path;
        return env;
    }

    private static async Task ReadFileCommandsAsync(JobSession session, StepResult result, Dictionary<string, string> files, CancellationToken cancellationToken)
    {
        async Task<string> Read(string variable)
        {
            var bytes = await session.Sandbox.ReadFileAsync($"{RunnerLayout.FileCommands}/{files[variable]}", FileCommands.MaxFileBytes, cancellationToken).ConfigureAwait(false);
            return System.Text.Encoding.UTF8.GetString(bytes);
        }
        try
        {
            foreach (var (k, v) in FileCommands.ParseKeyValues(await Read("GITHUB_ENV").ConfigureAwait(false), "$GITHUB_ENV"))
            {
                if (FileCommands.IsProtectedEnv(k))
                    session.Log(result, $"warning: $GITHUB_ENV may not set '{k}' (GITHUB_*, RUNNER_* and NODE_OPTIONS are the runner's): ignored");
                else
                    session.Env[k] = v;
            }
            foreach (var (k, v) in FileCommands.ParseKeyValues(await Read("GITHUB_OUTPUT").ConfigureAwait(false), "$GITHUB_OUTPUT"))
                result.Outputs[k] = v;
            foreach (var dir in FileCommands.ParsePath(await Read("GITHUB_PATH").ConfigureAwait(false)))
            {
                session.PathPrepends.Remove(dir);
                session.PathPrepends.Insert(0, dir);
            }
            var summary = await Read("GITHUB_STEP_SUMMARY").ConfigureAwait(false);
            if (summary.Length > 0)
                session.Result.StepSummary += session.Masker.Mask(summary);
        }
        catch (ExpressionException e)
        {
            result.Error = e.Message;
            throw new StepFailedException(e.Message);
        }
        catch (SandboxException e) when (e.Code is SandboxErrorCode.ResourceExhausted or SandboxErrorCode.NotFound)
        {
            result.Error = $"an environment file could not be read ({e.Message}); each is limited to {FileCommands.MaxFileBytes} bytes";
            throw new StepFailedException(result.Error);
        }
    }

    public static double Minutes(string text, string key)
    {
        if (double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var m) && m > 0)
            return m;
        throw new StepFailedException($"{key} '{text}' is not a positive number of minutes");
    }
}

/// <summary>A step failed for a reason the runner found (not the script's exit code): the message says why.</summary>
public sealed class StepFailedException : Exception
{
    public StepFailedException(string message) : base(message) { }
    public StepFailedException() : this("step failed") { }
    public StepFailedException(string message, Exception inner) : base(message, inner) { }
}
