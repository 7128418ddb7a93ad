using System.Diagnostics;
using Grpc.Core;
using Sandbox.Api;
using Sandbox.Api.V1;
using Sandbox.Isolation;
using Sandbox.Isolation.Container;

// bench/sandboxd: Run(["true"]) three ways in one run, sequential latency p50/p95, then sustained Run/s through gRPC,
// then the Exec round trip on a live container sandbox (Exec(["true"]) from a warm client: start → started → exit).
//   dotnet run -c Release --project bench/sandboxd -- [--socket PATH] [--n 200] [--seconds 10] [--concurrency 8] [--exec-only]
// Needs a running sandboxd (scripts/install-service.sh) and root (the in-process engine creates cgroups).
var socket = SandboxdChannel.ResolveSocketPath(Arg("--socket"));
var n = int.Parse(Arg("--n") ?? "200");
var seconds = int.Parse(Arg("--seconds") ?? "10");
var concurrency = int.Parse(Arg("--concurrency") ?? "8");

using var channel = SandboxdChannel.ForUnixSocket(socket);
var client = new Sandboxes.SandboxesClient(channel);
var driver = new BubblewrapDriver(new BubblewrapOptions { CgroupParent = "sandbox-bench", UidRangeBase = 0x7C00_0000, UidRangeCount = 64, AgentDirectory = Environment.GetEnvironmentVariable("SANDBOX_AGENT_DIR") });

async Task GrpcRun()
{
    using var call = client.Run();
    var start = new ProcessStart();
    start.Argv.Add("true");
    await call.RequestStream.WriteAsync(new RunRequest { Start = new RunStart { Sandbox = new CreateSandboxRequest { Untrusted = false, CodeProvenance = "tenant" }, Process = start } });
    await call.RequestStream.CompleteAsync();
    Exit? exit = null;
    while (await call.ResponseStream.MoveNext())
        exit = call.ResponseStream.Current.Exit ?? exit;
    if (exit is not { ExitCode: 0 }) throw new InvalidOperationException("gRPC run failed");
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

if (args.Contains("--exec-only"))
    return await ExecRoundTripAsync();

Console.WriteLine($"Run([\"true\"]) x {n} each, sequential, on {Environment.ProcessorCount} CPUs; sandboxd at {socket}");
foreach (var (name, body) in new (string, Func<Task>)[] { ("warmup", GrpcRun), ("raw bwrap", RawBwrap), ("in-process engine", EngineRun), ("gRPC sandboxd", GrpcRun) })
{
    var samples = new List<double>();
    for (var i = 0; i < (name == "warmup" ? 20 : n); i++)
    {
        var sw = Stopwatch.StartNew();
        await body();
        samples.Add(sw.Elapsed.TotalMilliseconds);
    }
    if (name == "warmup") { await EngineRun(); continue; }
    samples.Sort();
    Console.WriteLine($"  {name,-18} p50 {samples[samples.Count / 2],7:0.00} ms   p95 {samples[(int)(samples.Count * 0.95)],7:0.00} ms");
}

var done = 0;
var deadline = Stopwatch.StartNew();
await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
{
    while (deadline.Elapsed.TotalSeconds < seconds)
    {
        await GrpcRun();
        Interlocked.Increment(ref done);
    }
}));
Console.WriteLine($"  sustained gRPC Run: {done / deadline.Elapsed.TotalSeconds:0.0} Run/s ({concurrency} concurrent, {deadline.Elapsed.TotalSeconds:0.0} s)");
return await ExecRoundTripAsync();

async Task<int> ExecRoundTripAsync()
{
    var sandbox = await client.CreateSandboxAsync(new CreateSandboxRequest { Tier = Tier.Container, Untrusted = false, CodeProvenance = "tenant" });
    try
    {
        async Task Exec()
        {
            using var call = client.Exec();
            var start = new ProcessStart();
            start.Argv.Add("true");
            await call.RequestStream.WriteAsync(new ExecRequest { Start = new ExecStart { SandboxId = sandbox.Id, Process = start } });
            Exit? exit = null;
            while (await call.ResponseStream.MoveNext())
                exit = call.ResponseStream.Current.Exit ?? exit;
            if (exit is not { ExitCode: 0 }) throw new InvalidOperationException("exec failed");
        }
        for (var i = 0; i < 20; i++)
            await Exec();
        var samples = new List<double>();
        for (var i = 0; i < n; i++)
        {
            var sw = Stopwatch.StartNew();
            await Exec();
            samples.Add(sw.Elapsed.TotalMilliseconds);
        }
        samples.Sort();
        Console.WriteLine($"  Exec round trip (container, live sandbox {sandbox.Id}) x {n}: p50 {samples[samples.Count / 2]:0.00} ms   p95 {samples[(int)(samples.Count * 0.95)]:0.00} ms   (target p50 <= 2 ms)");
        return 0;
    }
    finally
    {
        await client.DeleteSandboxAsync(new DeleteSandboxRequest { Id = sandbox.Id });
    }
}

string? Arg(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
