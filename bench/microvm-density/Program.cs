using System.Diagnostics;
using System.Globalization;
using Sandbox.Isolation;
using Sandbox.Isolation.MicroVm;

// microVM density: restores N clones of one snapshot template and holds them all at once, idle, each answering an
// exec; reports the PSS and RSS of every clone's QEMU (/proc/PID/smaps_rollup: the template's RAM pages are shared,
// so each clone's PSS counts 1/N of them), the host's available memory before and with them, then removes them all
// and checks that no QEMU of theirs is left.
// Usage: dotnet run -c Release --project bench/microvm-density -- [count=50] [rootfs directory, or "host"] [the clones'
// TCG translation cache, MiB; default MicroVmOptions.CloneTcgTranslationCacheMiB] (a smaller cache bounds the clones'
// largest private mapping; the template is the same whatever the clones' size)
// SANDBOX_KERNEL_DIR=<kernel cache>: that cache's kernels (current/, and minimal/current when built, which the tier prefers).
// SANDBOX_BENCH_WORK=64,16,8 [rounds=4] [repeats=3]: instead, what each clone translation cache size costs a clone that
// works (WorkCost.cs); count is then the number of rounds, the third argument the repeats.
var count = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 50;
var rootfs = args.Length > 1 && args[1] != "host" ? RootfsSpec.Directory(Path.GetFullPath(args[1])) : RootfsSpec.Host;
var work = Environment.GetEnvironmentVariable("SANDBOX_BENCH_WORK");
var cloneCacheMiB = args.Length > 2 && work is null ? int.Parse(args[2], CultureInfo.InvariantCulture)
    : new MicroVmOptions().CloneTcgTranslationCacheMiB ?? new MicroVmOptions().TcgTranslationCacheMiB;
var kernelDirectory = Environment.GetEnvironmentVariable("SANDBOX_KERNEL_DIR") is { Length: > 0 } k ? k : new MicroVmOptions().KernelCacheDirectory;
var options = new MicroVmOptions
{
    AgentDirectory = Environment.GetEnvironmentVariable("SANDBOX_AGENT_DIR"),
    KernelCacheDirectory = kernelDirectory,
    CloneTcgTranslationCacheMiB = cloneCacheMiB,
    // SANDBOX_BENCH_THP_OFF=1: the clones' QEMUs without transparent huge pages (MicroVmOptions.TranslationBufferHugePages).
    TranslationBufferHugePages = Environment.GetEnvironmentVariable("SANDBOX_BENCH_THP_OFF") != "1",
};
var driver = new MicroVmDriver(options);
Console.WriteLine($"clones' TCG translation cache: {cloneCacheMiB} MiB; THP for it: {options.TranslationBufferHugePages}");
Console.WriteLine($"guest kernel: {Sandbox.Isolation.MicroVm.Kernel.GuestKernel.Locate(kernelDirectory).Version}");
var probe = await driver.ProbeAcceleratorAsync(CancellationToken.None);
Console.WriteLine($"accelerator: {probe.Accelerator}; host: {Environment.ProcessorCount} CPUs, load {File.ReadAllText("/proc/loadavg").Trim()}");
Console.WriteLine($"rootfs: {(args.Length > 1 && args[1] != "host" ? args[1] : "the host's userland")}");
if (work is { Length: > 0 })
    return await WorkCost.RunAsync(work, options, new SandboxSpec { Rootfs = rootfs }, rounds: count, repeats: args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 3);
var template = await driver.BuildTemplateAsync(new SandboxSpec { Rootfs = rootfs }, m => Console.WriteLine("  " + m), CancellationToken.None);

var qemusBefore = QemuPids();
var availableBefore = MemAvailableMiB();
var clones = new List<MicroVmSandbox>();
var clock = Stopwatch.StartNew();
try
{
    for (var i = 0; i < count; i++)
    {
        clones.Add((MicroVmSandbox)await driver.CreateAsync(new SandboxSpec { Rootfs = rootfs }, CancellationToken.None));
        if ((i + 1) % 10 == 0)
            Console.WriteLine($"  {i + 1} clones after {clock.Elapsed.TotalSeconds:0.0} s");
    }
    var created = clock.Elapsed;
    // Memory first, while they are idle, then whether each answers (an exec with the agent's deadline: on a host
    // this loaded one may miss it, and is counted, not fatal).
    var memory = clones.Select(c => (c.Info.Id, c.Template, Memory: c.HostMemory())).ToList();
    foreach (var (id, from, m) in memory)
        Console.WriteLine($"  {id}: PSS {MiB(m.PssBytes):0.0} MiB, RSS {MiB(m.RssBytes):0.0} MiB{(from == template.Key ? "" : " (not from the template!)")}");
    var pss = memory.Select(m => MiB(m.Memory.PssBytes)).Order().ToList();
    Console.WriteLine($"clones held at once: {clones.Count} (created one after another in {created.TotalSeconds:0.0} s, " +
        $"{created.TotalSeconds / clones.Count:0.00} s each)");
    Console.WriteLine($"PSS per clone: mean {pss.Average():0.0} MiB, median {pss[pss.Count / 2]:0.0}, max {pss[^1]:0.0}; total {pss.Sum():0} MiB");
    Console.WriteLine($"RSS per clone: mean {memory.Average(m => MiB(m.Memory.RssBytes)):0.0} MiB");
    PrintBreakdown(QemuPids().Except(qemusBefore).ToList(), "idle");
    var answering = 0;
    foreach (var clone in clones)
    {
        try
        {
            await RunTrue(clone);
            answering++;
        }
        catch (SandboxException e)
        {
            Console.WriteLine($"  {clone.Info.Id} did not answer: {e.Message}");
        }
    }
    Console.WriteLine($"answering an exec of true: {answering} of {clones.Count}");
    var after = clones.Select(c => MiB(c.HostMemory().PssBytes)).Order().ToList();
    Console.WriteLine($"PSS per clone after that exec: mean {after.Average():0.0} MiB, median {after[after.Count / 2]:0.0}, max {after[^1]:0.0}");
    PrintBreakdown(QemuPids().Except(qemusBefore).ToList(), "after one exec");
    Console.WriteLine($"host MemAvailable: {availableBefore} MiB before, {MemAvailableMiB()} MiB with the clones " +
        $"(template RAM file {new FileInfo(template.RamPath).Length >> 20} MiB, mapped from one sealed memfd)");
}
finally
{
    foreach (var clone in clones)
        await clone.DisposeAsync();
}
var left = QemuPids().Except(qemusBefore).Count();
Console.WriteLine($"removed all {clones.Count}; QEMU processes left: {left}");
return left == 0 ? 0 : 1;

// QEMU processes of this process's clones: each is PID 1 of its jail, a child of a bwrap that is our child.
static HashSet<int> QemuPids()
{
    var me = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
    var parents = new Dictionary<int, (string Comm, string Ppid)>();
    foreach (var dir in Directory.EnumerateDirectories("/proc"))
    {
        if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
        try
        {
            var stat = File.ReadAllText(Path.Combine(dir, "stat"));
            var close = stat.LastIndexOf(')');
            parents[pid] = (stat[(stat.IndexOf('(') + 1)..close], stat[(close + 2)..].Split(' ')[1]);
        }
        catch (IOException)
        {
        }
    }
    return parents.Where(p => p.Value.Comm.StartsWith("qemu", StringComparison.Ordinal)
            && int.TryParse(p.Value.Ppid, out var ppid) && parents.TryGetValue(ppid, out var parent)
            && parent.Comm == "bwrap" && parent.Ppid == me)
        .Select(p => p.Key).ToHashSet();
}

static async Task RunTrue(MicroVmSandbox sandbox)
{
    var p = await sandbox.ExecAsync(new ProcessSpec { Argv = ["true"] }, new ProcessIO(), CancellationToken.None);
    var status = await p.WaitAsync(CancellationToken.None);
    if (status.ExitCode != 0) throw new InvalidOperationException($"true exited with {status.ExitCode} in {sandbox.Info.Id}");
}

static double MiB(long bytes) => bytes / 1048576.0;

// Where a clone's PSS is, averaged over the clones (/proc/PID/smaps): the guest RAM (the template's memfd, shared
// copy-on-write: its PSS is the clone's share of the template's pages plus the pages it wrote), TCG's translation
// buffer (the only anonymous executable mapping), QEMU's heap and other anonymous memory (malloc arenas, thread
// stacks), and the binary's and libraries' own pages (mostly relocated data).
// SANDBOX_BENCH_SMAPS_DIR=DIR also keeps one clone's whole smaps there, per stage, to look into a category.
static void PrintBreakdown(List<int> pids, string when)
{
    if (Environment.GetEnvironmentVariable("SANDBOX_BENCH_SMAPS_DIR") is { Length: > 0 } keep && pids.Count > 0)
        File.Copy($"/proc/{pids[0]}/smaps", Path.Combine(keep, $"smaps-{when.Replace(' ', '-')}"), overwrite: true);
    var sums = new Dictionary<string, (double Pss, double PrivateDirty)>();
    var rss = new Dictionary<string, double>();
    foreach (var pid in pids)
    {
        string category = "other";
        foreach (var line in File.ReadLines($"/proc/{pid}/smaps"))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 5 && fields[0].Contains('-') && !fields[0].EndsWith(':'))
            {
                var perms = fields[1];
                var name = fields.Length >= 6 ? string.Join(' ', fields[5..]) : "";
                var range = fields[0].Split('-');
                var sizeKiB = (Convert.ToInt64(range[1], 16) - Convert.ToInt64(range[0], 16)) / 1024;
                // Anonymous read-write mappings by their size: glibc's thread arenas reserve 64 MiB each (the part in
                // use is read-write), a thread's stack is 8 MiB, a coroutine's 1 MiB (QEMU 7.2) plus its guard page;
                // malloc serves blocks of 128 KiB and more (TLBs, hash tables) as mappings of their own.
                category = name.Contains("memfd:") || name.StartsWith("/proc/self/fd/", StringComparison.Ordinal) ? "guest RAM (template memfd)"
                    : name == "" && perms.Contains('x') ? "TCG translation buffer"
                    : name == "[heap]" ? "heap: main arena"
                    : name == "" && sizeKiB == 8192 ? "anonymous: thread stacks"
                    : name == "" && sizeKiB == 1024 ? "anonymous: coroutine stacks"
                    : name == "" && range[0].EndsWith("000000", StringComparison.Ordinal) && sizeKiB < 65536 ? "anonymous: thread arenas"
                    : name == "" ? "anonymous: other (large mallocs)"
                    : name.StartsWith('/') ? "QEMU binary and libraries"
                    : "other (" + name + ")";
                continue;
            }
            if (fields.Length < 2) continue;
            if (fields[0] == "Rss:") rss[category] = rss.GetValueOrDefault(category) + double.Parse(fields[1], CultureInfo.InvariantCulture) / 1024 / pids.Count;
            var isPss = fields[0] == "Pss:";
            var isDirty = fields[0] == "Private_Dirty:";
            if (!isPss && !isDirty) continue;
            var kib = double.Parse(fields[1], CultureInfo.InvariantCulture) / 1024 / pids.Count;
            var (pss, dirty) = sums.GetValueOrDefault(category);
            sums[category] = isPss ? (pss + kib, dirty) : (pss, dirty + kib);
        }
    }
    Console.WriteLine($"PSS per clone by mapping, {when} (mean of {pids.Count}):");
    foreach (var (category, (pss, dirty)) in sums.OrderByDescending(s => s.Value.Pss))
        Console.WriteLine($"  {category,-40} PSS {pss,6:0.0} MiB, private dirty {dirty,6:0.0} MiB, RSS {rss.GetValueOrDefault(category),6:0.0} MiB");
}

static long MemAvailableMiB() =>
    long.Parse(File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemAvailable:", StringComparison.Ordinal))
        .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
