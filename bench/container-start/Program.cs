// bench/container-start: container start latency side by side, in one run, alternating variants round-robin so that
// the machine's noise hits all of them alike. Prints p50/p95 per variant and the ratios the issue asks for, then the
// host memory of idle long-lived sandboxes (agent included). Not a test: numbers go into the closing note.
//   dotnet run -c Release --project bench/container-start -- [iterations=200] [--cli PATH]
using System.Diagnostics;
using Sandbox.Bench.ContainerStart;
using Sandbox.Isolation;
using Sandbox.Isolation.Container;

var iterations = args.Length > 0 && int.TryParse(args[0], out var n) ? n : 200;
var cli = args.SkipWhile(a => a != "--cli").Skip(1).FirstOrDefault();

using var bundles = OciBundles.Create();
var driver = new BubblewrapDriver(new BubblewrapOptions { AgentDirectory = Environment.GetEnvironmentVariable("SANDBOX_AGENT_DIR") });
var variants = new List<Variant>
{
    new("engine Run([true])", async () => await driver.RunAsync(new SandboxSpec(), new ProcessSpec { Argv = ["true"] }, ProcessIO.Discard, CancellationToken.None)),
    new("raw bwrap", () => Commands.RunAsync("/usr/bin/bwrap", RawBwrap.Args)),
};
var engineArgv = await EngineArgv.CaptureAsync(driver);
variants.Add(new("engine's bwrap argv, bare", () => Commands.RunAsync(engineArgv[0], engineArgv.Skip(1))));
if (cli is not null)
    variants.Add(new("sandbox run -- true (CLI)", () => Commands.RunAsync(cli, ["run", "--", "true"])));
if (File.Exists("/usr/sbin/runc") && bundles.Ready)
    variants.Add(new("runc run", () => bundles.RunRuncAsync()));
if (File.Exists("/usr/bin/runsc") && bundles.Ready)
    variants.Add(new("runsc run (ptrace)", () => bundles.RunRunscAsync()));

foreach (var v in variants)
    await v.Action(); // warm up (JIT, page cache, runsc's first start)

for (var i = 0; i < iterations; i++)
{
    foreach (var v in variants)
    {
        var sw = Stopwatch.StartNew();
        await v.Action();
        v.Samples.Add(sw.Elapsed.TotalMilliseconds);
    }
}

Console.WriteLine($"container start, {iterations} runs each, alternating ({Environment.ProcessorCount} cores)");
Console.WriteLine($"{"variant",-28} {"p50 ms",8} {"p95 ms",8}");
foreach (var v in variants)
    Console.WriteLine($"{v.Name,-28} {v.P(50),8:0.00} {v.P(95),8:0.00}");
var engine = variants[0].P(50);
var raw = variants[1].P(50);
Console.WriteLine($"engine / raw bwrap (p50): {engine / raw:0.00}x   (target <= 1.5x)");
foreach (var v in variants.Where(v => v.Name.StartsWith("run", StringComparison.Ordinal)))
    Console.WriteLine($"engine vs {v.Name} (p50): the engine is {v.P(50) / engine:0.0}x faster   (target vs runc: >= 8x)");
if (cli is not null && variants.FirstOrDefault(v => v.Name == "runc run") is { } runc)
    Console.WriteLine($"CLI end to end vs runc run (p50): {variants.First(v => v.Name.Contains("CLI")).P(50):0.0} ms vs {runc.P(50):0.0} ms");
Console.WriteLine($"of which: the engine's bwrap command itself (prlimit+setpriv+bwrap, same mounts, no cgroup/seccomp/supervision): {variants[2].P(50):0.00} ms");

await IdleMemory.MeasureAsync(driver, 10);

internal sealed record Variant(string Name, Func<Task> Action)
{
    public List<double> Samples { get; } = [];

    public double P(int percentile)
    {
        var sorted = Samples.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(percentile / 100.0 * sorted.Length) - 1)];
    }
}
