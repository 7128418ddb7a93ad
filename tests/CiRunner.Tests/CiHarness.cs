using Microsoft.Extensions.Logging.Abstractions;
using Sandbox.CiRunner.Execution;
using Sandbox.CiRunner.Scheduling;
using Sandbox.CiRunner.Trust;
using Sandbox.CiRunner.Workflow;
using Sandbox.Core;
using Sandbox.Isolation.Container;
using Sandbox.Isolation.MicroVm;
using Sandbox.Policy;

namespace Sandbox.CiRunner.Tests;

/// <summary>Runs workflows for real: Core in this process with the real drivers and the embedded sandbox policy
/// (tenant "local", as <c>sandbox ci run --local</c>), the default CI trust policy, and a scratch repository.</summary>
public sealed class CiHarness : IAsyncDisposable
{
    private static readonly string? AgentDir =
        Environment.GetEnvironmentVariable(Sandbox.Isolation.Agent.AgentBundle.EnvironmentVariable) is { Length: > 0 } d ? d : null;

    private readonly SandboxCore _core = SandboxCore.Create(new SandboxCoreOptions(),
        EmbeddedPolicyEngine.CreateDefault(new HostCeilings(), NullLogger<EmbeddedPolicyEngine>.Instance),
        // A microVM job's first sandbox on a machine without its snapshot template (a clean CI machine, or a rebuilt
        // agent) cold-boots to build it; under TCG on a loaded 2-core host that has taken over the engine's 60 s.
        [new BubblewrapDriver(new BubblewrapOptions { AgentDirectory = AgentDir }),
         new MicroVmDriver(new MicroVmOptions { AgentDirectory = AgentDir, BootTimeout = TimeSpan.FromMinutes(4) })]);

    public CiHarness()
    {
        Repo = Directory.CreateTempSubdirectory("ci-repo-").FullName;
        Host = new CoreJobHost(_core, new Principal("local", "uid:test"));
    }

    /// <summary>The runner image jobs get with <see cref="OnRunnerImage"/>: the Debian image of `sandbox image build`.</summary>
    public const string RunnerImage = "debian:bookworm";

    public static bool HasRunnerImage
    {
        get
        {
            var options = new Sandbox.Isolation.Images.ImageStoreOptions();
            return Directory.Exists(options.Root) && new Sandbox.Isolation.Images.ImageStore(options).Find(RunnerImage) is not null;
        }
    }

    /// <summary>Jobs whose runs-on is ubuntu-latest run on <see cref="RunnerImage"/>.</summary>
    public static RunOptions OnRunnerImage(RunOptions options) => options with
    {
        RunnerImages = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { ["ubuntu-latest"] = RunnerImage },
    };

    public string Repo { get; }

    public IJobSandboxHost Host { get; }

    public SandboxCore Core => _core;

    public RecordingObserver Observer { get; } = new();

    public RunOptions Options(string @event = "push", bool fork = false) => new()
    {
        WorkspaceSource = Repo,
        Event = @event,
        Fork = fork,
        Ref = fork ? "refs/pull/7/merge" : "refs/heads/main",
        Sha = "0123456789abcdef0123456789abcdef01234567",
        Actor = "tester",
        Repository = "local/project",
        Secrets = new Dictionary<string, string> { ["TOKEN"] = "s3cr3t-value" },
        CacheDirectory = Path.Combine(Repo, ".cache-store"),
    };

    /// <param name="mirrors">The operator's mirrors (--mirror): the egress the default CI policy grants.</param>
    /// <param name="ciPolicy">A CI policy bundle directory (--ci-policy); null = the default bundle.</param>
    public async Task<RunResult> RunAsync(string yaml, RunOptions? options = null, IEnumerable<string>? mirrors = null,
        string? ciPolicy = null, CancellationToken cancellationToken = default)
    {
        var workflow = WorkflowParser.Parse(yaml, "test.yml");
        return await new WorkflowRunner(Host, CiPolicy.Load(ciPolicy, mirrors), Observer).RunAsync(workflow, options ?? Options(), cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await _core.Sandboxes.RemoveAllAsync();
        await _core.DisposeAsync();
        Directory.Delete(Repo, recursive: true);
    }
}

/// <summary>Every log line and event, for assertions.</summary>
public sealed class RecordingObserver : IRunObserver
{
    private readonly List<string> _lines = [];

    public IReadOnlyList<string> Lines { get { lock (_lines) return [.. _lines]; } }

    public string Text => string.Join('\n', Lines);

    public void JobQueued(JobResult job) { }
    public void JobStarted(JobResult job) => Add($"[{job.Name}] started on {job.Tier}");
    public void StepStarted(JobResult job, StepResult step) => Add($"[{job.Name}] step {step.Name}");
    public void Log(JobResult job, StepResult? step, string line) => Add($"[{job.Name}] {line}");
    public void StepFinished(JobResult job, StepResult step) => Add($"[{job.Name}] step {step.Name}: {step.Conclusion.Name()}");
    public void JobFinished(JobResult job) => Add($"[{job.Name}] finished: {job.Conclusion.Name()} {job.Error}");

    private readonly List<(Func<IReadOnlyList<string>, bool> Done, TaskCompletionSource Signal)> _waiters = [];

    /// <summary>Completes when the lines so far satisfy <paramref name="done"/> (checked at every new line).</summary>
    public Task WaitForAsync(Func<IReadOnlyList<string>, bool> done)
    {
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lines)
        {
            if (done(_lines)) tcs.SetResult();
            else _waiters.Add((done, tcs));
        }
        return tcs.Task;
    }

    private void Add(string line)
    {
        lock (_lines)
        {
            _lines.Add(line);
            foreach (var w in _waiters.Where(w => w.Done(_lines)).ToList())
            {
                _waiters.Remove(w);
                w.Signal.SetResult();
            }
        }
    }
}

/// <summary>A fact that reports as skipped, with the reason, where real sandboxes cannot run here: not root, no
/// bwrap, or no agent build (SANDBOX_AGENT_DIR).</summary>
public sealed class SandboxFactAttribute : FactAttribute
{
    public SandboxFactAttribute()
    {
        if (Environment.UserName != "root")
            Skip = "needs root (cgroups and the sandbox uid range)";
        else if (!File.Exists("/usr/bin/bwrap"))
            Skip = "bwrap is not installed";
        else if (Environment.GetEnvironmentVariable("SANDBOX_AGENT_DIR") is not { } dir || !File.Exists(Path.Combine(dir, "sandbox-agent")))
            Skip = "SANDBOX_AGENT_DIR does not point at a built agent (scripts/build-agent.sh)";
    }

    /// <summary>The test needs the microVM tier too: QEMU and the guest kernel.</summary>
    public bool MicroVm
    {
        get;
        set
        {
            field = value;
            if (value && Skip is null && !Directory.Exists("/var/cache/sandbox/kernel/current"))
                Skip = "no guest kernel in /var/cache/sandbox/kernel/current (scripts/bootstrap.sh)";
            else if (value && Skip is null && !File.Exists("/usr/bin/qemu-system-x86_64"))
                Skip = "qemu-system-x86_64 is not installed";
        }
    }

    /// <summary>The test's jobs reach this host's Debian mirror (its apt sources, plain http) through egress.</summary>
    public bool AptMirror
    {
        get;
        set
        {
            field = value;
            if (value && Skip is null && Sandbox.Isolation.Images.AptSources.FindMirror("bookworm") is null)
                Skip = "this host's apt sources name no Debian bookworm mirror";
            else if (value && Skip is null && !Sandbox.Isolation.Images.AptSources.FindMirror("bookworm")!.StartsWith("http://", StringComparison.Ordinal))
                Skip = "this host's Debian mirror is not plain http (the image has no CA certificates for https)";
        }
    }

    /// <summary>The test's jobs run on the host's userland and need this command of it (/usr/bin/NAME).</summary>
    public string? HostCommand
    {
        get;
        set
        {
            field = value;
            if (value is not null && Skip is null && !File.Exists("/usr/bin/" + value))
                Skip = $"/usr/bin/{value} is not installed on this host (the job runs on the host's userland)";
        }
    }

    /// <summary>The test runs jobs on the default runner image, <see cref="CiHarness.RunnerImage"/>, which
    /// scripts/bootstrap.sh builds into the default image store.</summary>
    public bool RunnerImage
    {
        get;
        set
        {
            field = value;
            if (value && Skip is null && !CiHarness.HasRunnerImage)
                Skip = $"image {CiHarness.RunnerImage} is not in the store (scripts/bootstrap.sh builds it: sandbox image build --debian bookworm --name {CiHarness.RunnerImage})";
        }
    }
}
