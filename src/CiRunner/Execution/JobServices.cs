using Sandbox.CiRunner.Expressions;
using Sandbox.CiRunner.Workflow;
using Sandbox.Core;
using Sandbox.Isolation;

namespace Sandbox.CiRunner.Execution;

/// <summary>
/// A job's service containers (<c>services:</c>). Each is a sandbox of its own, asked of Core with the job's own trust
/// decision (tier, untrusted, provenance, limits), from the service's image, that joins the job sandbox's network
/// namespace (<see cref="SandboxRequest.NetworkOf"/>) and has no network of its own: a pod. The job reaches a service
/// at localhost:PORT, as a job on GitHub's hosted runner does, and at LABEL:PORT, as a job in a container does (the job
/// sandbox's /etc/hosts names every label as its loopback). A service sees none of the job's files (its own root,
/// work dir, processes and uid range) and the job none of the service's; a service gets no secret the job's decision
/// does not give, and no egress at all (the shared network is the job's, as its decision made it).
/// The steps start once every service with a health check passes it; all are removed before the job's sandbox.
/// </summary>
public sealed class JobServices : IAsyncDisposable
{
    private readonly List<RunningService> _services = [];

    private sealed record RunningService(string Label, IJobSandbox Sandbox, Task Process, CancellationTokenSource Stop, IReadOnlyList<ServicePort> Ports);

    /// <summary>job.services: LABEL → {id, network, ports: {PORT: PORT}} (the port a service listens on is the port the
    /// job uses).</summary>
    public ExprValue Context { get; private set; } = ExprValue.Object(new ExprObject());

    public static async Task<JobServices> StartAsync(IJobSandboxHost host, IJobSandbox job, SandboxRequest jobRequest, IReadOnlyList<ServiceDefinition> definitions,
        EvaluationContext context, Action<string> log, CancellationToken cancellationToken)
    {
        var services = new JobServices();
        try
        {
            foreach (var definition in definitions)
                await services.StartOneAsync(host, job, jobRequest, definition, context, log, cancellationToken).ConfigureAwait(false);
            services.Context = ExprValue.Object(services._services.Select(s => KeyValuePair.Create(s.Label, ExprValue.Object([
                KeyValuePair.Create("id", ExprValue.String(s.Sandbox.Id)),
                KeyValuePair.Create("network", ExprValue.String(job.Id)),
                KeyValuePair.Create("ports", ExprValue.StringMap(s.Ports.ToDictionary(p => p.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    p => p.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)))),
            ]))));
            return services;
        }
        catch
        {
            await services.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task StartOneAsync(IJobSandboxHost host, IJobSandbox job, SandboxRequest jobRequest, ServiceDefinition definition,
        EvaluationContext context, Action<string> log, CancellationToken cancellationToken)
    {
        var label = definition.Label;
        var image = TemplateString.EvaluateString(definition.Image, context);
        if (string.IsNullOrWhiteSpace(image))
            throw new StepFailedException($"service '{label}': its image evaluated to an empty name");
        var env = definition.Env.ToDictionary(p => p.Key, p => TemplateString.EvaluateString(p.Value, context), StringComparer.Ordinal);
        var ports = new List<ServicePort>();
        foreach (var text in definition.Ports)
        {
            var port = ServicePort.Parse(TemplateString.EvaluateString(text, context), out var error);
            if (error is not null)
                throw new StepFailedException($"service '{label}': {error}");
            ports.Add(port);
        }
        var options = new ServiceOptions();
        if (definition.Options is { } text2)
            options = ServiceOptions.Parse(TemplateString.EvaluateString(text2, context), out var error) ?? throw new StepFailedException($"service '{label}': {error}");
        var request = Request(jobRequest, label, image, env, job.Id);
        log($"service '{label}': starting {image} (its Entrypoint and Cmd)");
        var sandbox = await host.CreateAsync(request, cancellationToken).ConfigureAwait(false);
        var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        // An empty argv: the image's own command and working directory, applied by Core on both paths.
        var process = RunAsync(sandbox, new ProcessSpec { Argv = [] }, line => log($"[{label}] {line}"), stop.Token);
        var service = new RunningService(label, sandbox, process, stop, ports);
        _services.Add(service);
        if (options.HealthCommand is { } health)
            await WaitHealthyAsync(service, health, options, log, cancellationToken).ConfigureAwait(false);
        else
            log($"service '{label}': started (no health check: the steps do not wait for it)");
    }

    /// <summary>Why a job with services cannot run with this decision, or null when it can. A microVM job's services are
    /// refused (docs/ci.md, "Services of a microVM job"): a microVM's network is its own VM's, which no other sandbox can
    /// join yet, and running the service inside the job's VM would give up the separation of their roots and files.
    /// Nothing runs with more than the job's trust either way; the job fails at its start, saying so.</summary>
    public static string? Refusal(SandboxTier tier, string trust) => tier == SandboxTier.Container ? null
        : $"services: this job's decision is the {tier.ToString().ToLowerInvariant()} tier (trust {trust}), whose network a service's sandbox " +
          "cannot join; service containers run beside container-tier jobs only (docs/ci.md)";

    /// <summary>A service's sandbox request: the job's own trust decision (tier, untrusted, provenance, requested
    /// limits, TTL), the service's image and env, joining the job sandbox's network (<paramref name="networkOf"/>; null
    /// for <c>sandbox ci plan</c>, before any job exists) with no network of its own, root of its own user namespace.</summary>
    public static SandboxRequest Request(SandboxRequest jobRequest, string label, string image, IReadOnlyDictionary<string, string> env, string? networkOf) =>
        jobRequest with
        {
            Image = image,
            Env = env,
            NetworkOf = networkOf,
            NetworkMode = "none",
            Egress = [],
            Publish = [],
            LoopbackNames = [],
            WorkDir = null,
            // Root of the sandbox's own user namespace, as a service image expects to start (an entrypoint that drops
            // to its own user): an unprivileged host uid without capabilities.
            User = "root",
            Labels = new Dictionary<string, string>(jobRequest.Labels) { ["ci.service"] = label },
        };

    private static async Task RunAsync(IJobSandbox sandbox, ProcessSpec process, Action<string> log, CancellationToken cancellationToken)
    {
        var stdout = new LineWriterStream(log);
        var stderr = new LineWriterStream(log);
        await using (stdout.ConfigureAwait(false))
        await using (stderr.ConfigureAwait(false))
        {
            try
            {
                var status = await sandbox.RunAsync(process, stdout, stderr, cancellationToken).ConfigureAwait(false);
                stdout.Complete();
                stderr.Complete();
                if (!cancellationToken.IsCancellationRequested)
                    log($"(the service's process ended: {status})");
            }
            catch (SandboxException e) when (!cancellationToken.IsCancellationRequested)
            {
                // Its start failed (an image without Entrypoint or Cmd): said in the job's log, the health check fails.
                log($"(the service's process did not start: {e.Message})");
            }
        }
    }

    /// <summary>docker's health check, as GitHub's runner waits for it: the command (sh -c) in the service's sandbox
    /// until it exits 0; a failure counts once the start period is over, and <see cref="ServiceOptions.Retries"/>
    /// failures in a row (or the service's process ending) fail the job.</summary>
    private static async Task WaitHealthyAsync(RunningService service, string command, ServiceOptions options, Action<string> log, CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var failures = 0;
        while (true)
        {
            if (service.Process.IsCompleted)
                throw new StepFailedException($"service '{service.Label}' ended before its health check passed");
            var output = new System.Text.StringBuilder();
            var sink = new LineWriterStream(line => { lock (output) output.AppendLine(line); });
            ExitStatus status;
            await using (sink.ConfigureAwait(false))
            {
                status = await service.Sandbox.RunAsync(new ProcessSpec { Argv = ["/bin/sh", "-c", command], Timeout = options.Timeout }, sink, sink, cancellationToken)
                    .ConfigureAwait(false);
                sink.Complete();
            }
            if (status.ExitCode == 0 && !status.TimedOut)
            {
                log($"service '{service.Label}' is healthy ({started.Elapsed.TotalSeconds:0.0} s)");
                return;
            }
            if (started.Elapsed >= options.StartPeriod && ++failures >= options.Retries)
                throw new StepFailedException($"service '{service.Label}' is unhealthy: its health check failed {failures} times " +
                    $"(last: {(status.TimedOut ? "timed out" : $"exit code {status.ExitCode}")}{(output.Length > 0 ? ", " + output.ToString().Trim() : "")})");
            await Task.WhenAny(Task.Delay(options.Interval, cancellationToken), service.Process).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>Stops every service (its sandbox removed, its process with it); never throws.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var service in _services)
        {
            await service.Stop.CancelAsync().ConfigureAwait(false);
            await service.Sandbox.DisposeAsync().ConfigureAwait(false);
            try
            {
                await service.Process.ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SandboxException or IOException)
            {
                // The service was stopped: how its process ended is of no interest now.
            }
            service.Stop.Dispose();
        }
        _services.Clear();
    }
}
