// Decision latency of the default bundle, in-process (not a test: timing never gates CI).
// Usage: dotnet run -c Release --project bench/policy-latency [-- iterations]
using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Sandbox.Policy;
using Sandbox.Policy.Rego;

var iterations = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 20_000;
var policy = RegoBundle.LoadDefault().Compile();
var engine = new EmbeddedPolicyEngine(policy, new HostCeilings(), NullLogger<EmbeddedPolicyEngine>.Instance);

PolicyInput Input(int i) => new(
    new RequestInfo($"req-{i}", DateTimeOffset.UnixEpoch, "create"),
    new SubjectInfo(i % 3 == 0 ? "public" : "acme", "alice", true),
    new WorkloadInfo("python:3.12", null, i % 2 == 0 ? "tenant" : "fork", i % 5 == 0),
    new RequestedSpec("auto", new RequestedResources(MemoryMiB: 1024 + (i % 7 * 512), Vcpus: 2),
        new RequestedNetwork("egress", ["pypi.org", "evil.example"]), ["ptrace"]),
    new EnvironmentInfo(["container", "microvm"], i % 4 == 0 ? "tcg" : "kvm"));

var inputs = Enumerable.Range(0, 64).Select(Input).ToArray();
for (var i = 0; i < 5_000; i++) await engine.DecideAsync(inputs[i % inputs.Length], CancellationToken.None);

var samples = new double[iterations];
var allowed = 0;
for (var i = 0; i < iterations; i++)
{
    var start = Stopwatch.GetTimestamp();
    var d = await engine.DecideAsync(inputs[i % inputs.Length], CancellationToken.None);
    samples[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
    if (d.Allow) allowed++;
}
Array.Sort(samples);
double P(double q) => samples[(int)Math.Min(samples.Length - 1, q * samples.Length)];
Console.WriteLine($"default bundle decision (EmbeddedPolicyEngine.DecideAsync), {iterations} iterations, {allowed} allowed");
Console.WriteLine($"p50 {P(0.50):F1} us   p95 {P(0.95):F1} us   p99 {P(0.99):F1} us   max {samples[^1]:F1} us");
Console.WriteLine($"target p50 <= 50 us: {(P(0.50) <= 50 ? "met" : "NOT met")}");
