using System.Diagnostics;
using Sandbox.Api.V1;
using Sandbox.Bench.Sandboxd;
using Sandbox.Isolation;
using Sandbox.Isolation.Container;

// bench/sandboxd: Run(["true"]) with a warm pool and without, side by side with raw bwrap and the in-process engine,
// in one run: sequential latency p50/p95, then sustained one-shot Runs/s with --concurrency callers and CPU-ms per
// sandbox; then the Exec round trip on a live container sandbox (Exec(["true"]) from a warm client: start → started →
// exit), alone with --exec-only.
//   dotnet run -c Release --project bench/sandboxd -- [--n 100] [--seconds 10] [--concurrency 8] [--pool-size 4]
//       [--cli artifacts/cli/sandbox] [--baseline-cli OTHER-sandbox] [--exec-only] [--exec-warmup 200] [--baseline OTHER-BUILD/sandboxd.dll]
//       [--refill-concurrency N] [--only CASE] [--baseline-agent OTHER-AGENT-BUNDLE] [--exec-gap MS] [--warmup N] [--sustained-only]
// Starts private sandboxds (sandboxd.dll built beside the bench): "warm" keeps a container pool of --pool-size for the
// default shape (pools.refill_concurrency N with --refill-concurrency, else sandboxd's default), "empty" has none. --baseline starts a second pair from another build's sandboxd.dll (e.g. a copy of
// this directory made before a change) and interleaves every measurement over both: an A/B in one run, the host's load
// falling on both alike. Exec is measured after --exec-warmup untimed execs (the JIT's tiering settles in that many:
// what is measured is the daemon's steady state). Needs root (cgroups) and $SANDBOX_AGENT_DIR or an installed agent.
var n = int.Parse(Arg("--n") ?? "100");
var seconds = int.Parse(Arg("--seconds") ?? "10");
var concurrency = int.Parse(Arg("--concurrency") ?? "8");
var poolSize = int.Parse(Arg("--pool-size") ?? "4");
var execWarmup = int.Parse(Arg("--exec-warmup") ?? "200");
// --warmup N: untimed rounds of every sequential case first (JIT tiering, policy caches, seccomp programs, connections);
// a long-lived daemon's steady state takes a few hundred calls to reach.
var warmup = int.Parse(Arg("--warmup") ?? "10");
// --exec-gap MS: an untimed pause before each timed exec, as between a user's commands (a container sandbox prepares
// the next exec's first stage after each exec: back to back, the next exec waits for it).
var execGap = int.Parse(Arg("--exec-gap") ?? "0");
var baseline = Arg("--baseline");
// The baseline daemons' agent bundle ($SANDBOX_AGENT_DIR for them), when the change under test is the agent's.
var baselineAgent = Arg("--baseline-agent");
int? refillConcurrency = Arg("--refill-concurrency") is { } rc ? int.Parse(rc) : null;
var execOnly = args.Contains("--exec-only");
// --sustained-only: the warm-up, then only the sustained Runs/s phase (one number to rerun, or to profile: perf record -a
// over it sees only this load's processes besides the host's own).
var sustainedOnly = args.Contains("--sustained-only");
// --only NAME: the sequential cases whose name contains NAME, nothing else (one number to rerun, or to profile).
var only = Arg("--only");
var cli = Arg("--cli") ?? (File.Exists("artifacts/cli/sandbox") ? "artifacts/cli/sandbox" : null);
// --baseline-cli OTHER-sandbox: another build's CLI measured beside --cli's, interleaved (a before/after of the client).
var baselineCli = Arg("--baseline-cli");
if (baseline is not null && !File.Exists(baseline))
    throw new FileNotFoundException($"--baseline {baseline}: no such sandboxd.dll");

var daemons = new List<PrivateSandboxd>();
await using var stop = new DaemonsDisposer(daemons);
PrivateSandboxd? warm = null, warmBase = null;
if (!execOnly)
    daemons.Add(warm = await PrivateSandboxd.StartAsync("warm", poolSize, 0x7A00_0000, refillConcurrency: refillConcurrency));
var empty = await PrivateSandboxd.StartAsync("empty", 0, 0x7A40_0000);
daemons.Add(empty);
PrivateSandboxd? emptyBase = null;
if (baseline is not null)
{
    if (!execOnly)
        daemons.Add(warmBase = await PrivateSandboxd.StartAsync("warm-baseline", poolSize, 0x7A80_0000, baseline, agentDirectory: baselineAgent));
    daemons.Add(emptyBase = await PrivateSandboxd.StartAsync("empty-baseline", 0, 0x7AC0_0000, baseline, agentDirectory: baselineAgent));
}
var driver = new BubblewrapDriver(new BubblewrapOptions { CgroupParent = "sandbox-bench", UidRangeBase = 0x7C00_0000, UidRangeCount = 64, AgentDirectory = Environment.GetEnvironmentVariable("SANDBOX_AGENT_DIR") });
Console.WriteLine($"{DateTime.UtcNow:u}, load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]} (1 min), {Environment.ProcessorCount} CPUs"
    + (baseline is null ? "" : $"; baseline {baseline}"));

Task GrpcRun(PrivateSandboxd d) => GrpcRunOn(d.Client);

// A fresh channel (a new connection) per call, from this warm process: what a one-shot client's connection costs the
// daemon, without the client's own start-up.
async Task GrpcRunNewConnection(PrivateSandboxd d)
{
    using var channel = Sandbox.Api.SandboxdChannel.ForUnixSocket(d.SocketPath);
    await GrpcRunOn(new Sandboxes.SandboxesClient(channel));
}

async Task GrpcRunOn(Sandboxes.SandboxesClient client)
{
    using var call = client.Run();
    var start = new ProcessStart();
    start.Argv.Add("true");
    await call.RequestStream.WriteAsync(new RunRequest { Start = new RunStart { Sandbox = new CreateSandboxRequest { Untrusted = false, CodeProvenance = "tenant" }, Process = start } });
    await call.RequestStream.CompleteAsync();
    Exit? exit = null;
    while (await call.ResponseStream.MoveNext(CancellationToken.None))
        exit = call.ResponseStream.Current.Exit ?? exit;
    if (exit is not { ExitCode: 0 }) throw new InvalidOperationException("gRPC run failed");
}

async Task CliRun(PrivateSandboxd d, string program)
{
    var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
    foreach (var a in new[] { "run", "--trusted", "--", "true" })
        psi.ArgumentList.Add(a);
    psi.Environment["SANDBOX_SOCKET"] = d.SocketPath;
    using var p = Process.Start(psi)!;
    var stderr = p.StandardError.ReadToEndAsync();
    await p.WaitForExitAsync();
    if (p.ExitCode != 0) throw new InvalidOperationException($"sandbox run failed ({p.ExitCode}): {await stderr}");
}

async Task EngineRun()
{
    var status = await driver.RunAsync(new SandboxSpec(), new ProcessSpec { Argv = ["true"] }, ProcessIO.Discard, CancellationToken.None);
    if (status.ExitCode != 0) throw new InvalidOperationException("engine run failed");
}

async Task RawBwrap()
{
    var psi = new ProcessStartInfo("/usr/bin/bwrap") { RedirectStandardOutput = true };
    foreach (var a in new[] { "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "--proc", "/proc", "--dev", "/dev", "true" })
        psi.ArgumentList.Add(a);
    using var p = Process.Start(psi)!;
    await p.WaitForExitAsync();
    if (p.ExitCode != 0) throw new InvalidOperationException("bwrap failed");
}

if (execOnly)
    return await ExecRoundTripAsync([empty, .. emptyBase is null ? Array.Empty<PrivateSandboxd>() : [emptyBase]]);

var cases = new List<(string Name, Func<Task> Body, Func<Task> Before)>
{
    ("raw bwrap", RawBwrap, () => Task.CompletedTask),
    ("in-process engine", EngineRun, () => Task.CompletedTask),
};
foreach (var (d, label) in new[] { (warm!, ""), (warmBase, " (baseline)") })
{
    if (d is null)
        continue;
    cases.Add(($"gRPC Run, pool warm{label}", () => GrpcRun(d), d.WaitPoolFullAsync));
    if (label == "")
        cases.Add(("gRPC Run, pool warm, new connection", () => GrpcRunNewConnection(d), d.WaitPoolFullAsync));
}
foreach (var (d, label) in new[] { (empty, ""), (emptyBase, " (baseline)") })
{
    if (d is not null)
        cases.Add(($"gRPC Run, pool empty{label}", () => GrpcRun(d), () => Task.CompletedTask));
}
if (cli is not null)
{
    cases.Add(("CLI run, pool warm", () => CliRun(warm!, cli), warm!.WaitPoolFullAsync));
    cases.Add(("CLI run, pool empty", () => CliRun(empty, cli), () => Task.CompletedTask));
    if (baselineCli is not null)
    {
        cases.Add(("CLI run, pool warm (baseline CLI)", () => CliRun(warm!, baselineCli), warm!.WaitPoolFullAsync));
        cases.Add(("CLI run, pool empty (baseline CLI)", () => CliRun(empty, baselineCli), () => Task.CompletedTask));
    }
}

if (!sustainedOnly)
    Console.WriteLine($"Run([\"true\"]) x {n} each, sequential; pool of {poolSize} (warm: full before each call, untimed)"
    + (cli is null ? "; no CLI (--cli PATH)" : $"; CLI {cli} run --trusted"));
// Warm-up: JIT, policy caches, seccomp programs, the prepared /etc, gRPC connections.
for (var i = 0; i < warmup; i++)
{
    await RawBwrap();
    await EngineRun();
    foreach (var (_, body, before) in cases.Skip(2))
    {
        await before();
        await body();
    }
}
if (sustainedOnly)
    cases = [];
else if (only is not null)
    cases = cases.Where(c => c.Name.Contains(only, StringComparison.OrdinalIgnoreCase) || c.Name == "raw bwrap").ToList();
var results = cases.ToDictionary(c => c.Name, _ => new List<double>());
var sequentialCpu0 = daemons.ToDictionary(d => d, d => d.CpuMs());
// Interleaved, so the host's load (shared machine) falls on every case alike.
for (var i = 0; i < n; i++)
{
    foreach (var (name, body, before) in cases)
    {
        await before();
        var sw = Stopwatch.StartNew();
        await body();
        results[name].Add(sw.Elapsed.TotalMilliseconds);
    }
}
var rawP50 = sustainedOnly ? 0 : Percentile(results["raw bwrap"], 0.5);
foreach (var (name, samples) in results)
{
    var p50 = Percentile(samples, 0.5);
    Console.WriteLine($"  {name,-33} p50 {p50,7:0.00} ms   p95 {Percentile(samples, 0.95),7:0.00} ms   {p50 / rawP50,5:0.00}x raw bwrap");
}
if (only is not null)
{
    // One daemon case: its CPU per call, the pool's teardown and refill included (they run between calls).
    foreach (var d in daemons)
        Console.WriteLine($"  {d.Name,-15} {(d.CpuMs() - sequentialCpu0[d]) / n,6:0.0} CPU-ms of sandboxd (+ everything it started) per call of its cases");
    return 0;
}

Console.WriteLine($"Sustained gRPC Run([\"true\"]), {concurrency} callers, {seconds} s each (alternating daemons, twice each):");
var sustained = daemons.ToDictionary(d => d, _ => (Done: 0, Seconds: 0.0, CpuMs: 0.0, Hits: 0.0, OwnMs: 0.0, ChildrenMs: 0.0));
for (var round = 0; round < 2; round++)
{
    foreach (var d in daemons)
    {
        await d.WaitPoolFullAsync();
        await d.WaitRetiredAsync();
        var hits0 = await d.MetricAsync($"sandboxd_pool_claims_total{{pool=\"{PrivateSandboxd.PoolName}\",outcome=\"hit\"}}");
        var cpu0 = d.CpuMs() + Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds;
        var (own0, children0) = (d.OwnCpuMs(), d.ChildrenCpuMs());
        var done = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            while (clock.Elapsed.TotalSeconds < seconds)
            {
                await GrpcRun(d);
                Interlocked.Increment(ref done);
            }
        }));
        var elapsed = clock.Elapsed.TotalSeconds;
        // Teardown of pooled sandboxes runs after their Run answered, and the refill after it: let both finish so
        // their CPU is counted (the refill's sandboxes wait for the next round, so that round's claims get them).
        await d.WaitRetiredAsync();
        await d.WaitPoolFullAsync();
        var cpu = d.CpuMs() + Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds - cpu0;
        var hits = await d.MetricAsync($"sandboxd_pool_claims_total{{pool=\"{PrivateSandboxd.PoolName}\",outcome=\"hit\"}}") - hits0;
        var s0 = sustained[d];
        sustained[d] = (s0.Done + done, s0.Seconds + elapsed, s0.CpuMs + cpu, s0.Hits + hits,
            s0.OwnMs + d.OwnCpuMs() - own0, s0.ChildrenMs + d.ChildrenCpuMs() - children0);
    }
}
foreach (var (d, r) in sustained)
{
    Console.WriteLine($"  {d.Name,-15} {r.Done / r.Seconds,7:0.0} Runs/s   {r.CpuMs / r.Done,6:0.0} CPU-ms per sandbox (sandboxd + everything it started + client)"
        + (d.PoolSize > 0 ? $"   pool hits {r.Hits / r.Done:P0}" : "")
        + $"\n  {"",-15} of which sandboxd {r.OwnMs / r.Done:0.0}, what it started {r.ChildrenMs / r.Done:0.0}, the client {(r.CpuMs - r.OwnMs - r.ChildrenMs) / r.Done:0.0}");
}
Console.WriteLine($"  load average after: {File.ReadAllText("/proc/loadavg").Split(' ')[0]} (1 min)");
if (sustainedOnly)
    return 0;
return await ExecRoundTripAsync([empty, .. emptyBase is null ? Array.Empty<PrivateSandboxd>() : [emptyBase]]);

// The Exec round trip on one live container sandbox per daemon: --exec-warmup untimed, then --n timed, interleaved
// over the daemons (one call each in turn).
async Task<int> ExecRoundTripAsync(IReadOnlyList<PrivateSandboxd> targets)
{
    var sandboxes = new List<string>();
    try
    {
        foreach (var d in targets)
            sandboxes.Add((await d.Client.CreateSandboxAsync(new CreateSandboxRequest { Tier = Tier.Container, Untrusted = false, CodeProvenance = "tenant" })).Id);
        async Task Exec(PrivateSandboxd d, string id)
        {
            using var call = d.Client.Exec();
            var start = new ProcessStart();
            start.Argv.Add("true");
            await call.RequestStream.WriteAsync(new ExecRequest { Start = new ExecStart { SandboxId = id, Process = start } });
            Exit? exit = null;
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
                exit = call.ResponseStream.Current.Exit ?? exit;
            if (exit is not { ExitCode: 0 }) throw new InvalidOperationException("exec failed");
        }
        for (var i = 0; i < execWarmup; i++)
        {
            for (var t = 0; t < targets.Count; t++)
                await Exec(targets[t], sandboxes[t]);
        }
        var samples = targets.Select(_ => new List<double>()).ToList();
        // sandboxd's own and what it reaped: the sandbox's CPU (its agent, each exec) is counted apart, below.
        var cpu0 = targets.Select(d => d.DaemonAndReapedCpuMs()).ToList();
        var switches0 = targets.Select(d => d.ContextSwitches()).ToList();
        // What runs inside the sandbox per exec (the agent, the held first stage, the program) is the sandbox's
        // cgroup's CPU, not the daemon's: read from its cpuacct hierarchy where there is one.
        string CpuacctUsage(int t) => $"/sys/fs/cgroup/cpuacct/{targets[t].CgroupParent}/{sandboxes[t]}/cpuacct.usage";
        double InsideMs(int t) => File.Exists(CpuacctUsage(t)) ? long.Parse(File.ReadAllText(CpuacctUsage(t)).Trim()) / 1e6 : double.NaN;
        var inside0 = targets.Select((_, t) => InsideMs(t)).ToList();
        for (var i = 0; i < n; i++)
        {
            for (var t = 0; t < targets.Count; t++)
            {
                if (execGap > 0)
                    await Task.Delay(execGap);
                var sw = Stopwatch.StartNew();
                await Exec(targets[t], sandboxes[t]);
                samples[t].Add(sw.Elapsed.TotalMilliseconds);
            }
        }
        Console.WriteLine($"Exec([\"true\"]) round trip, live container sandbox, x {n} after {execWarmup} untimed{(execGap > 0 ? $", {execGap} ms apart" : "")} (target p50 <= 2 ms); load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}:");
        for (var t = 0; t < targets.Count; t++)
        {
            Console.WriteLine($"  {targets[t].Name,-15} p50 {Percentile(samples[t], 0.5),6:0.00} ms   p95 {Percentile(samples[t], 0.95),6:0.00} ms   " +
                $"{(targets[t].DaemonAndReapedCpuMs() - cpu0[t]) / n:0.00} CPU-ms of sandboxd per exec, {(InsideMs(t) - inside0[t]) / n:0.00} inside the sandbox, " +
                $"{(double)(targets[t].ContextSwitches() - switches0[t]) / n:0.0} context switches of sandboxd per exec");
        }
        return 0;
    }
    finally
    {
        for (var t = 0; t < sandboxes.Count; t++)
            await targets[t].Client.DeleteSandboxAsync(new DeleteSandboxRequest { Id = sandboxes[t] });
    }
}

static double Percentile(List<double> samples, double q)
{
    var sorted = samples.Order().ToList();
    return sorted[Math.Min(sorted.Count - 1, (int)(sorted.Count * q))];
}

string? Arg(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();

/// <summary>Stops every daemon the bench started, whatever failed, then removes the in-process engine's cgroup parent
/// (`sandbox-bench`), which it left on every hierarchy (rmdir leaves one that is not empty).</summary>
internal sealed class DaemonsDisposer(List<PrivateSandboxd> daemons) : IAsyncDisposable
{
    public async ValueTask DisposeAsync()
    {
        foreach (var d in daemons)
            await d.DisposeAsync();
        // v1: one directory per hierarchy; v2: the unified root itself.
        foreach (var hierarchy in Directory.Exists("/sys/fs/cgroup") ? ["/sys/fs/cgroup", .. Directory.GetDirectories("/sys/fs/cgroup")] : Array.Empty<string>())
        {
            try { Directory.Delete(Path.Combine(hierarchy, "sandbox-bench")); }
            catch (IOException) { }
        }
    }
}
