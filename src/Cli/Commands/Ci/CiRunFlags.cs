using System.CommandLine;
using Sandbox.CiRunner.Execution;

namespace Sandbox.Cli.Commands.Ci;

/// <summary>The options `sandbox ci run` and `sandbox ci plan` share: the workflow, who triggered the run (the policy's
/// input), what jobs ask for, and where sandboxes come from.</summary>
internal sealed class CiRunFlags
{
    public Argument<string?> Workflow { get; } = new("workflow") { Description = "The workflow file (default: the only file in .github/workflows/)", Arity = ArgumentArity.ZeroOrOne };
    public Option<string[]> Job { get; } = new("--job") { Description = "Run only this job and what it needs (repeatable)" };
    public Option<string> Event { get; } = new("--event") { Description = "The triggering event: push, pull_request, ... (default push)", DefaultValueFactory = _ => "push" };
    public Option<bool> Fork { get; } = new("--fork") { Description = "The pull request comes from a fork (untrusted code)" };
    public Option<string?> Ref { get; } = new("--ref") { Description = "refs/heads/BRANCH, refs/tags/TAG or refs/pull/N/merge (default: the checked-out branch)" };
    public Option<string?> Sha { get; } = new("--sha") { Description = "The commit (default: git HEAD)" };
    public Option<string?> Actor { get; } = new("--actor") { Description = "Who triggered the run (default: your user name)" };
    public Option<string?> Repository { get; } = new("--repository") { Description = "owner/name (default: local/DIRECTORY, which the default policy trusts)" };
    public Option<string[]> Egress { get; } = new("--egress") { Description = "HOST[:PORT] every job asks to reach (the CI policy filters it; repeatable)" };
    public Option<string[]> Mirror { get; } = new("--mirror") { Description = "A package mirror host pattern the operator allows (added to the CI policy's mirrors; repeatable)" };
    public Option<string[]> RunnerImage { get; } = new("--runner-image") { Description = "LABEL=IMAGE: the image for jobs whose runs-on has LABEL (repeatable; IMAGE 'host': this host's userland; default: ubuntu-latest and the other default labels on debian:bookworm, built on first use)" };
    public Option<string?> Memory { get; } = new("--memory", "-m") { Description = "Memory each job's sandbox asks for (e.g. 2g; default: the sandbox policy's; it counts the work dir's files)" };
    public Option<string?> Cpus { get; } = new("--cpus") { Description = "CPUs each job's sandbox asks for (e.g. 2)" };
    public Option<string?> Disk { get; } = new("--disk") { Description = "Size cap of each job's /tmp and /home/runner (e.g. 4g)" };
    public Option<string?> CiPolicy { get; } = new("--ci-policy") { Description = "A CI trust policy bundle (directory or .tar.gz) instead of the embedded policies/ci" };
    public Option<bool> Local { get; } = new("--local") { Description = "Run sandboxes in this process through Core (embedded sandbox policy, tenant 'local')" };
    public Option<string?> Socket { get; } = Remote.Sandboxd.SocketOption();

    public IEnumerable<Symbol> Symbols => [Workflow, Job, Event, Fork, Ref, Sha, Actor, Repository, Egress, Mirror, RunnerImage, Memory, Cpus, Disk, CiPolicy, Local, Socket];

    /// <summary>The run's options from the command line; the rest from the repository (git) and the user.</summary>
    public RunOptions ToRunOptions(ParseResult parse, string workflowPath)
    {
        var root = WorkflowLocator.RepositoryRoot(workflowPath);
        var @event = parse.GetValue(Event)!;
        var isPr = @event is "pull_request" or "pull_request_target";
        var @ref = parse.GetValue(Ref) ?? (isPr ? "refs/pull/1/merge" : "refs/heads/" + (GitFacts.Branch(root) ?? "main"));
        if (!@ref.StartsWith("refs/", StringComparison.Ordinal))
            throw new FormatException($"--ref '{@ref}' must be a full ref: refs/heads/BRANCH, refs/tags/TAG or refs/pull/N/merge");
        var repository = parse.GetValue(Repository) ?? "local/" + Path.GetFileName(Path.TrimEndingDirectorySeparator(root));
        if (repository.Count(c => c == '/') != 1 || repository.StartsWith('/') || repository.EndsWith('/'))
            throw new FormatException($"--repository '{repository}' must be owner/name");
        var images = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var pair in parse.GetValue(RunnerImage) ?? [])
        {
            var eq = pair.IndexOf('=');
            if (eq <= 0 || eq == pair.Length - 1)
                throw new FormatException($"--runner-image '{pair}' must be LABEL=IMAGE");
            images[pair[..eq]] = pair[(eq + 1)..];
        }
        foreach (var e in parse.GetValue(Egress) ?? [])
            if (e.Length == 0 || e.Contains('/') || e.Contains(' '))
                throw new FormatException($"--egress '{e}' must be HOST or HOST:PORT");
        return new RunOptions
        {
            WorkspaceSource = root,
            Event = @event,
            Fork = parse.GetValue(Fork),
            Ref = @ref,
            Sha = parse.GetValue(Sha) ?? GitFacts.Commit(root) ?? new string('0', 40),
            Actor = parse.GetValue(Actor) ?? Environment.UserName,
            Repository = repository,
            JobFilter = parse.GetValue(Job) ?? [],
            Egress = parse.GetValue(Egress) ?? [],
            RunnerImages = images,
            JobLimits = new Sandbox.Core.RequestedLimits(
                MemoryMiB: parse.GetValue(Memory) is { } m ? Units.ParseMiB(m, "--memory", 16) : null,
                Vcpus: parse.GetValue(Cpus) is { } c ? Units.ParseCpus(c, "--cpus") : null,
                DiskMiB: parse.GetValue(Disk) is { } d ? Units.ParseMiB(d, "--disk", 1) : null),
        };
    }
}
