using System.Diagnostics;
using Sandbox.Api.V1;
using Sandbox.Bench.Sandboxd;
using Sandbox.Isolation;
using Sandbox.Isolation.Container;

// bench/sandboxd: Run(["true"]) with a warm pool and without, side by side with raw bwrap and the in-process engine,
// in one run: sequential latency p50/p95, then sustained one-shot Runs/s with --concurrency callers and CPU-ms per
// sandbox.
//   dotnet run -c Release --project bench/sandboxd -- [--n 100] [--seconds 10] [--concurrency 8] [--pool-size 4]
//       [--cli artifacts/cli/sandbox]
// Starts two private sandboxds (sandboxd.dll built beside the bench): "warm" keeps a container pool of --pool-size for
// the default shape, "empty" has none. Needs root (cgroups) and $SANDBOX_AGENT_DIR or an installed agent.
var n = int.Parse(Arg("--n") ?? "100");
var seconds = int.Parse(Arg("--seconds") ?? "10");
var concurrency = int.Parse(Arg("--concurrency") ?? "8");
var poolSize = int.Parse(Arg("--pool-size") ?? "4");
var cli = Arg("--cli") ?? (File.Exists("artifacts/cli/sandbox") ? "artifacts/cli/sandbox" : null);

await using var warm = await PrivateSandboxd.StartAsync("warm", poolSize, 0x7A00_0000);
await using var empty = await PrivateSandboxd.StartAsync("empty", 0, 0x7A40_0000);
var driver = new BubblewrapDriver(new BubblewrapOptions { CgroupParent = "sandbox-bench", UidRangeBase = 0x7C00_0000, UidRangeCount = 64, AgentDirectory = Environment.GetEnvironmentVariable("SANDBOX_AGENT_DIR") });

async Task GrpcRun(PrivateSandboxd d)
{
    using var call = d.Client.Run();
    var start = new ProcessStart();
    start.Argv.Add("true");
    await call.RequestStream.WriteAsync(new RunRequest { Start = new RunStart { Sandbox = new CreateSandboxRequest { Untrusted = false, CodeProvenance = "tenant" }, Process = start } });
    await call.RequestStream.CompleteAsync();
    Exit? exit = null;
    while (await call.ResponseStream.MoveNext(CancellationToken.None))
        exit = call.ResponseStream.Current.Exit ?? exit;
    if (exit is not { ExitCode: 0 }) throw new InvalidOperationException("gRPC run failed");
}

async Task CliRun(PrivateSandboxd d)
{
    var psi = new ProcessStartInfo(cli!) { RedirectStandardOutput = true, RedirectStandardError = true };
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

var cases = new List<(string Name, Func<Task> Body, Func<Task> Before)>
{
    ("raw bwrap", RawBwrap, () => Task.CompletedTask),
    ("in-process engine", EngineRun, () => Task.CompletedTask),
    ("gRPC Run, pool warm", () => GrpcRun(warm), warm.WaitPoolFullAsync),
    ("gRPC Run, pool empty", () => GrpcRun(empty), () => Task.CompletedTask),
};
if (cli is not null)
{
    cases.Add(("CLI run, pool warm", () => CliRun(warm), warm.WaitPoolFullAsync));
    cases.Add(("CLI run, pool empty", () => CliRun(empty), () => Task.CompletedTask));
}

Console.WriteLine($"Run([\"true\"]) x {n} each, sequential, on {Environment.ProcessorCount} CPUs; pool of {poolSize} (warm: full before each call, untimed)"
    + (cli is null ? "; no CLI (--cli PATH)" : $"; CLI {cli} run --trusted"));
// Warm-up: JIT, policy caches, seccomp programs, the prepared /etc, gRPC connections.
for (var i = 0; i < 10; i++)
{
    await RawBwrap();
    await EngineRun();
    await warm.WaitPoolFullAsync();
    await GrpcRun(warm);
    await GrpcRun(empty);
}
var results = cases.ToDictionary(c => c.Name, _ => new List<double>());
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
var rawP50 = Percentile(results["raw bwrap"], 0.5);
foreach (var (name, samples) in results)
{
    var p50 = Percentile(samples, 0.5);
    Console.WriteLine($"  {name,-22} p50 {p50,7:0.00} ms   p95 {Percentile(samples, 0.95),7:0.00} ms   {p50 / rawP50,5:0.00}x raw bwrap");
}

Console.WriteLine($"Sustained gRPC Run([\"true\"]), {concurrency} callers, {seconds} s each:");
foreach (var d in new[] { warm, empty })
{
    await d.WaitPoolFullAsync();
    var hits0 = await d.MetricAsync($"sandboxd_pool_claims_total{{pool=\"{PrivateSandboxd.PoolName}\",outcome=\"hit\"}}");
    var cpu0 = d.CpuMs() + Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds;
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
    // Teardown of pooled sandboxes runs after their Run answered: let it finish so its CPU is counted.
    await d.WaitPoolFullAsync();
    var cpu = d.CpuMs() + Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds - cpu0;
    var hits = await d.MetricAsync($"sandboxd_pool_claims_total{{pool=\"{PrivateSandboxd.PoolName}\",outcome=\"hit\"}}") - hits0;
    Console.WriteLine($"  pool {(d == warm ? $"warm ({poolSize})" : "empty"),-9} {done / elapsed,7:0.0} Runs/s   {cpu / done,6:0.0} CPU-ms per sandbox (sandboxd + reaped children + client)   pool hits {hits / done:P0}");
}
return 0;

static double Percentile(List<double> samples, double q)
{
    var sorted = samples.Order().ToList();
    return sorted[Math.Min(sorted.Count - 1, (int)(sorted.Count * q))];
}

string? Arg(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
