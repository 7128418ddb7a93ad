using System.CommandLine;
using Sandbox.Cli.Parsing;
using Sandbox.CiRunner.Execution;
using Sandbox.CiRunner.Reports;
using Sandbox.CiRunner.Scheduling;
using Sandbox.CiRunner.Trust;
using Sandbox.CiRunner.Workflow;
using Sandbox.Isolation;
using Sandbox.Policy;

namespace Sandbox.Cli.Commands.Ci;

/// <summary>`sandbox ci run|plan|validate`: GitHub Actions workflow files, each job in a fresh sandbox whose tier,
/// secrets and network the CI policy decides from who triggered the run (docs/ci.md).
/// Exit codes: 0 every job succeeded; 1 a job failed; 2 the workflow or the arguments are invalid; 130 cancelled.</summary>
public static class CiCommand
{
    public const int JobFailed = 1;
    public const int Invalid = 2;
    public const int Cancelled = 130;

    public static Command Create()
    {
        var ci = new Command("ci", "Run GitHub Actions workflows, each job in the sandbox the CI policy chooses");
        ci.Subcommands.Add(Run());
        ci.Subcommands.Add(Plan());
        ci.Subcommands.Add(Validate());
        return ci;
    }

    private static Command Run()
    {
        var flags = new CiRunFlags();
        var jobs = new Option<int>("--jobs") { Description = "Job legs running at once (default 2)", DefaultValueFactory = _ => 2 };
        var junit = new Option<string?>("--junit") { Description = "Write a JUnit XML report (a testcase per job and step)" };
        var json = new Option<string?>("--json") { Description = "Write a JSON report (decisions, results, timings)" };
        var artifacts = new Option<string?>("--artifacts") { Description = "Keep uploaded artifacts in this directory (default: a temporary one, removed)" };
        var secret = new Option<string[]>("--secret") { Description = "NAME=VALUE, masked in every log line; given only to jobs the policy trusts (repeatable)" };
        var secretFile = new Option<string[]>("--secret-file") { Description = "A file of NAME=VALUE lines ('#' comments), as --secret (repeatable)" };
        var cacheDir = new Option<string?>("--cache-dir") { Description = "actions/cache store (default /var/cache/sandbox/ci-cache)" };
        var plain = new Option<bool>("--plain") { Description = "Timestamped log lines even on a terminal (instead of the live table)" };
        var command = new Command("run", "Run a workflow's jobs in sandboxes");
        foreach (var s in flags.Symbols) Add(command, s);
        foreach (var s in new Symbol[] { jobs, junit, json, artifacts, secret, secretFile, cacheDir, plain }) Add(command, s);
        command.SetAction(async (parse, cancellationToken) =>
        {
            WorkflowFile workflow;
            CiRunner.Execution.RunOptions options;
            CiPolicy policy;
            try
            {
                var path = WorkflowLocator.Find(parse.GetValue(flags.Workflow));
                workflow = WorkflowParser.ParseFile(path);
                if (parse.GetValue(jobs) is < 1 or > 64)
                    throw new FormatException($"--jobs {parse.GetValue(jobs)} is out of range [1, 64]");
                options = flags.ToRunOptions(parse, path) with
                {
                    MaxParallelJobs = parse.GetValue(jobs),
                    ArtifactsDirectory = parse.GetValue(artifacts),
                    Secrets = SecretsFrom(parse.GetValue(secret) ?? [], parse.GetValue(secretFile) ?? []),
                    CacheDirectory = parse.GetValue(cacheDir) ?? "/var/cache/sandbox/ci-cache",
                };
                WorkflowRunner.Select(workflow, options.JobFilter);
                policy = CiPolicy.Load(parse.GetValue(flags.CiPolicy), parse.GetValue(flags.Mirror));
                options = CiRunner.Execution.DefaultRunnerImage.Apply(options);
                if (CiRunner.Execution.DefaultRunnerImage.Wanted(workflow, options))
                    await CiRunner.Execution.DefaultRunnerImage.EnsureAsync(new Sandbox.Isolation.Images.ImageStore(new Sandbox.Isolation.Images.ImageStoreOptions()),
                        new Progress<string>(line => Console.Error.WriteLine($"sandbox ci: {line}")), cancellationToken);
            }
            catch (Exception e) when (e is SandboxException or UnauthorizedAccessException && !cancellationToken.IsCancellationRequested)
            {
                await Console.Error.WriteLineAsync($"sandbox ci: the default runner image {CiRunner.Execution.DefaultRunnerImage.Name} is not available: {e.Message}; " +
                    "give --runner-image LABEL=IMAGE (LABEL=host: this host's own userland)");
                return Invalid;
            }
            catch (Exception e) when (e is FormatException or UsageException or WorkflowException or ArgumentException or IOException or Sandbox.Policy.Rego.RegoException)
            {
                await Console.Error.WriteLineAsync($"sandbox ci: {e.Message}");
                return Invalid;
            }
            var host = CiHost.Create(parse.GetValue(flags.Local), parse.GetValue(flags.Socket));
            CiRunner.Execution.RunResult result;
            await using (host)
            {
                Task<CiRunner.Execution.RunResult> Go(CiRunner.Execution.IRunObserver o) => new WorkflowRunner(host.Host, policy, o).RunAsync(workflow, options, cancellationToken);
                result = !parse.GetValue(plain) && !Console.IsOutputRedirected && AnsiConsoleSupported()
                    ? await new TableProgress().RunAsync(Go)
                    : await Go(new PlainProgress(Console.Out));
            }
            if (parse.GetValue(junit) is { } j)
                await using (var f = File.Create(j)) JUnitReport.Write(result, f);
            if (parse.GetValue(json) is { } js)
                await using (var f = File.Create(js)) JsonReport.Write(result, f);
            Console.WriteLine($"{result.Workflow}: {(result.Succeeded ? "success" : result.Cancelled ? "cancelled" : "failure")} " +
                $"({result.Jobs.Count(x => x.Conclusion == CiRunner.Execution.Conclusion.Success)} of {result.Jobs.Count} jobs succeeded) in {result.Duration.TotalSeconds:0.0} s");
            return result.Cancelled ? Cancelled : result.Succeeded ? 0 : JobFailed;
        });
        return command;
    }

    private static Command Plan()
    {
        var flags = new CiRunFlags();
        var command = new Command("plan", "Print each job's decision (trust, tier, secrets, egress) with reasons, running nothing");
        foreach (var s in flags.Symbols) Add(command, s);
        command.SetAction(async (parse, cancellationToken) =>
        {
            try
            {
                var path = WorkflowLocator.Find(parse.GetValue(flags.Workflow));
                var workflow = WorkflowParser.ParseFile(path);
                var options = CiRunner.Execution.DefaultRunnerImage.Apply(flags.ToRunOptions(parse, path));
                var policy = CiPolicy.Load(parse.GetValue(flags.CiPolicy), parse.GetValue(flags.Mirror));
                Console.WriteLine($"{workflow.Name ?? Path.GetFileName(path)}: event {options.Event}{(options.Fork ? " from a fork" : "")}, ref {options.Ref}, actor {options.Actor}, repository {options.Repository}");
                await using var host = CiHost.Create(parse.GetValue(flags.Local), parse.GetValue(flags.Socket));
                foreach (var job in RunPlanner.Plan(workflow, options, policy))
                {
                    var d = job.Decision;
                    Console.WriteLine();
                    Console.WriteLine($"{job.Name}  (runs-on: {string.Join(", ", job.Labels)}{(job.Image is null ? "" : $"; image {job.Image}")})");
                    Console.WriteLine($"  ci policy: trust {d.Trust} -> {TierName(d.Tier)}, secrets {(d.Secrets ? "yes" : "no")}, egress {(d.Egress.Count == 0 ? "none" : string.Join(", ", d.Egress))}");
                    foreach (var r in d.Reasons) Console.WriteLine($"    - {r}");
                    if (job.Note is not null) Console.WriteLine($"    - {job.Note}");
                    var sandbox = await host.Host.ExplainAsync(job.Request, cancellationToken);
                    Console.WriteLine($"  sandbox policy: {Describe(sandbox)}");
                    foreach (var r in sandbox.Reasons) Console.WriteLine($"    - {r}");
                    var refusal = job.Services.Count > 0 ? JobServices.Refusal(d.Tier, d.Trust) : null;
                    if (refusal is not null)
                        Console.WriteLine($"  services {string.Join(", ", job.Services.Select(s => $"{s.Label} ({s.Image})"))}: refused, the job fails at its start: {refusal}");
                    foreach (var service in refusal is null ? job.Services : [])
                    {
                        // Its own sandbox, decided as the job's is; at run time it joins the job's network (none of its own).
                        var decided = await host.Host.ExplainAsync(service.Request, cancellationToken);
                        Console.WriteLine($"  service {service.Label} ({service.Image}): {Describe(decided)}; shares the job's network");
                        foreach (var r in decided.Reasons) Console.WriteLine($"    - {r}");
                    }
                }
                return 0;
            }
            catch (Exception e) when (e is FormatException or UsageException or WorkflowException or ArgumentException or IOException or Sandbox.Policy.Rego.RegoException or SandboxException)
            {
                await Console.Error.WriteLineAsync($"sandbox ci: {e.Message}");
                return Invalid;
            }
        });
        return command;
    }

    private static string Describe(SandboxDecisionSummary d) => d.Allow
        ? $"{d.Tier}, network {d.Network}{(d.Egress.Count > 0 ? " to " + string.Join(", ", d.Egress) : "")}, " +
          $"{d.MemoryMiB} MiB, {d.Vcpus} vCPU, {d.Pids} pids, {d.TimeoutSeconds} s, seccomp {d.SyscallProfile}"
        : "denied";

    private static Command Validate()
    {
        var files = new Argument<string[]>("workflows") { Description = "Workflow files (default: every file in .github/workflows/)", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("validate", "Check workflow files without running them: every error with file:line:column and key") { files };
        command.SetAction(parse =>
        {
            var paths = parse.GetValue(files) is { Length: > 0 } given ? given : DefaultWorkflows();
            if (paths.Length == 0)
            {
                Console.Error.WriteLine("sandbox ci: no workflow files given and none in .github/workflows/");
                return Invalid;
            }
            var bad = 0;
            foreach (var path in paths)
            {
                try
                {
                    var w = WorkflowParser.ParseFile(path);
                    Console.WriteLine($"{path}: ok ({w.Jobs.Count} jobs, {w.Jobs.Sum(j => j.Steps.Count)} steps)");
                }
                catch (WorkflowException e)
                {
                    bad++;
                    foreach (var error in e.Errors) Console.Error.WriteLine(error);
                }
                catch (IOException e)
                {
                    bad++;
                    Console.Error.WriteLine($"{path}: {e.Message}");
                }
            }
            return bad == 0 ? 0 : Invalid;
        });
        return command;
    }

    private static string[] DefaultWorkflows()
    {
        var dir = Path.Combine(".github", "workflows");
        return Directory.Exists(dir)
            ? [.. Directory.EnumerateFiles(dir).Where(f => f.EndsWith(".yml", StringComparison.Ordinal) || f.EndsWith(".yaml", StringComparison.Ordinal)).Order(StringComparer.Ordinal)]
            : [];
    }

    private static Dictionary<string, string> SecretsFrom(string[] pairs, string[] files)
    {
        var secrets = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        void Add(string pair, string where)
        {
            var eq = pair.IndexOf('=');
            if (eq <= 0 || !WorkflowParser.IsValidId(pair[..eq]))
                throw new FormatException($"{where}: '{(eq > 0 ? pair[..eq] : pair)}' must be NAME=VALUE with NAME of letters, digits and '_'");
            secrets[pair[..eq]] = pair[(eq + 1)..];
        }
        foreach (var p in pairs) Add(p, "--secret");
        foreach (var file in files)
        {
            var n = 0;
            foreach (var line in File.ReadLines(file))
            {
                n++;
                if (line.Trim().Length == 0 || line.TrimStart().StartsWith('#')) continue;
                Add(line, $"--secret-file {file}:{n}");
            }
        }
        return secrets;
    }

    private static string TierName(SandboxTier tier) => tier == SandboxTier.MicroVm ? "microvm" : "container";

    private static bool AnsiConsoleSupported() => Spectre.Console.AnsiConsole.Profile.Capabilities.Interactive;

    private static void Add(Command command, Symbol symbol)
    {
        switch (symbol)
        {
            case Option o: command.Options.Add(o); break;
            case Argument a: command.Arguments.Add(a); break;
        }
    }
}
