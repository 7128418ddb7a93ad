using System.Text;
using CsCheck;

namespace Sandbox.Fuzz.Tests;

/// <summary>Runs one parser over generated inputs with a fixed, seeded budget: the same inputs on every run (a PCG
/// stream seeded from <see cref="Seed"/> and the target's name), so a failure reproduces. Each input must end within
/// <see cref="PerInput"/> (no hang), allocate less than a bound proportional to its size (no memory blow-up), and throw
/// nothing but the target's documented exception types (no crash). FUZZ_ITERATIONS and FUZZ_SEED change the budget
/// and the seed (scripts/fuzz.sh runs the targets longer).</summary>
internal static class FuzzHarness
{
    /// <summary>Inputs per target in the suite: a few seconds each on this project's 2-core machines.</summary>
    public const int DefaultIterations = 1500;

    public static readonly TimeSpan PerInput = TimeSpan.FromSeconds(10);

    public static ulong Seed => ulong.TryParse(Environment.GetEnvironmentVariable("FUZZ_SEED"), out var s) ? s : 0x5eed_2026_1206UL;

    public static int Iterations => int.TryParse(Environment.GetEnvironmentVariable("FUZZ_ITERATIONS"), out var n) && n > 0 ? n : DefaultIterations;

    /// <param name="allowed">Exception types the target documents for bad input (subtypes included).</param>
    /// <param name="maxAllocatedBytes">The most one input may allocate, given its size in bytes.</param>
    public static void Run<T>(string target, Gen<T> gen, Action<T> parse, Type[] allowed, Func<T, int> sizeOf,
        Func<int, long>? maxAllocatedBytes = null, int? iterations = null)
    {
        maxAllocatedBytes ??= size => (64L << 20) + 256L * size;
        var stream = (uint)target.Aggregate(17, (h, c) => h * 31 + c);
        var pcg = new PCG(stream, Seed);
        var n = iterations ?? Iterations;
        for (var i = 0; i < n; i++)
        {
            var input = gen.Generate(pcg, null, out _);
            var before = GC.GetTotalAllocatedBytes(precise: false);
            Exception? thrown = null;
            var run = Task.Factory.StartNew(() =>
            {
                try
                {
                    parse(input);
                }
                catch (Exception e)
                {
                    thrown = e;
                }
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            if (!run.Wait(PerInput))
                throw Failure(target, i, input, $"no answer within {PerInput.TotalSeconds:0} s (a hang)");
            var allocated = GC.GetTotalAllocatedBytes(precise: false) - before;
            if (allocated > maxAllocatedBytes(sizeOf(input)))
                throw Failure(target, i, input, $"allocated {allocated >> 20} MiB for a {sizeOf(input)}-byte input (bound {maxAllocatedBytes(sizeOf(input)) >> 20} MiB)");
            if (thrown is not null && !allowed.Any(t => t.IsInstanceOfType(thrown)))
                throw Failure(target, i, input, $"threw {thrown.GetType().FullName}, not one of {string.Join(", ", allowed.Select(t => t.Name))}: {thrown}");
        }
    }

    public static void RunBytes(string target, Gen<byte[]> gen, Action<byte[]> parse, Type[] allowed, int? iterations = null) =>
        Run(target, gen, parse, allowed, b => b.Length, iterations: iterations);

    public static void RunText(string target, Gen<string> gen, Action<string> parse, Type[] allowed, int? iterations = null) =>
        Run(target, gen, parse, allowed, s => Encoding.UTF8.GetByteCount(s), iterations: iterations);

    private static Exception Failure<T>(string target, int iteration, T input, string what)
    {
        var shown = input switch
        {
            byte[] b => "hex " + Convert.ToHexString(b.AsSpan(0, Math.Min(b.Length, 4096))) + (b.Length > 4096 ? "…" : ""),
            string s => "text " + System.Text.Json.JsonSerializer.Serialize(s.Length > 4096 ? s[..4096] + "…" : s),
            _ => input?.ToString() ?? "null",
        };
        return new InvalidOperationException($"{target}: input #{iteration} (FUZZ_SEED={Seed}) {what}\ninput: {shown}");
    }
}
