using System.Diagnostics;
using System.Globalization;
using Sandbox.Isolation;
using Sandbox.Isolation.MicroVm;

/// <summary>
/// What a restored clone's translation cache size (MicroVmOptions.CloneTcgTranslationCacheMiB) costs a clone that
/// works: per size, round robin over fresh clones of one template, the restore (wall, QEMU CPU), then workloads run one
/// after another in it (QEMU flushes a full buffer and translates again what runs next), each timed (wall, QEMU CPU),
/// and the clone's PSS at the end. Run by Program.cs when SANDBOX_BENCH_WORK is set ("64,16,8": the sizes, MiB).
/// </summary>
internal static class WorkCost
{
    private static readonly (string Name, string[] Argv)[] s_workloads =
    [
        ("true", ["true"]),
        ("sh loop of 3000", ["sh", "-c", "i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done"]),
        ("python3 json+re", ["python3", "-c", "import json, re; print(len(json.dumps([re.sub('1', 'x', str(i)) for i in range(20000)])))"]),
    ];

    public static async Task<int> RunAsync(string sizesText, MicroVmOptions template, SandboxSpec spec, int rounds, int repeats)
    {
        var sizes = sizesText.Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToList();
        var drivers = sizes.ToDictionary(s => s, s => new MicroVmDriver(new MicroVmOptions
        {
            AgentDirectory = template.AgentDirectory, KernelCacheDirectory = template.KernelCacheDirectory,
            TranslationBufferHugePages = template.TranslationBufferHugePages, CloneTcgTranslationCacheMiB = s,
        }));
        await drivers[sizes[0]].BuildTemplateAsync(spec, m => Console.WriteLine("  " + m), CancellationToken.None);
        Console.WriteLine($"workloads, each {repeats} times in a row per clone, after a restore; {rounds} rounds, sizes {sizesText} MiB round robin " +
            $"(the first size changes every round); load {File.ReadAllText("/proc/loadavg").Trim()}");
        var samples = new Dictionary<(int Size, string What), List<(double Wall, double Cpu)>>();
        var pss = sizes.ToDictionary(s => s, _ => new List<double>());
        void Add(int size, string what, double wall, double cpu) =>
            (samples.TryGetValue((size, what), out var l) ? l : samples[(size, what)] = []).Add((wall, cpu));
        for (var round = 0; round < rounds; round++)
        {
            foreach (var size in sizes.Skip(round % sizes.Count).Concat(sizes.Take(round % sizes.Count)))
            {
                var clock = Stopwatch.StartNew();
                await using var clone = (MicroVmSandbox)await drivers[size].CreateAsync(spec, CancellationToken.None);
                var wall = clock.Elapsed.TotalSeconds;
                var cpu = (await clone.GetStatsAsync(CancellationToken.None)).CpuTime.TotalSeconds;
                Add(size, "restore (to the agent set up)", wall, cpu);
                foreach (var (name, argv) in s_workloads)
                {
                    for (var r = 0; r < repeats; r++)
                    {
                        var before = (await clone.GetStatsAsync(CancellationToken.None)).CpuTime.TotalSeconds;
                        clock.Restart();
                        var p = await clone.ExecAsync(new ProcessSpec { Argv = argv }, new ProcessIO(), CancellationToken.None);
                        var status = await p.WaitAsync(CancellationToken.None);
                        wall = clock.Elapsed.TotalSeconds;
                        if (status.ExitCode != 0) throw new InvalidOperationException($"{name} exited with {status.ExitCode}");
                        Add(size, name, wall, (await clone.GetStatsAsync(CancellationToken.None)).CpuTime.TotalSeconds - before);
                    }
                }
                pss[size].Add(clone.HostMemory().PssBytes / 1048576.0);
            }
            Console.WriteLine($"  round {round + 1} done; load {File.ReadAllText("/proc/loadavg").Trim()}");
        }
        Console.WriteLine("| what | " + string.Join(" | ", sizes.Select(s => $"tb-size {s} MiB: wall p50 / QEMU CPU p50 (min)")) + " |");
        foreach (var what in samples.Keys.Select(k => k.What).Distinct())
            Console.WriteLine($"| {what} | " + string.Join(" | ", sizes.Select(s =>
            {
                var l = samples[(s, what)];
                return $"{Median(l.Select(x => x.Wall)) * 1000:0} ms / {Median(l.Select(x => x.Cpu)) * 1000:0} ms ({l.Min(x => x.Cpu) * 1000:0})";
            })) + " |");
        Console.WriteLine("| PSS at the end (one clone alone) | " + string.Join(" | ", sizes.Select(s => $"{Median(pss[s]):0.0} MiB")) + " |");
        Console.WriteLine($"load {File.ReadAllText("/proc/loadavg").Trim()}");
        return 0;
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
