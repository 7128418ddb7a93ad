using System.Diagnostics;
using System.Globalization;
using System.Text;
using Sandbox.Isolation;
using Sandbox.Isolation.MicroVm;
using Sandbox.Isolation.MicroVm.Kernel;

// microVM start benchmark, every variant in one run, round robin (the host is noisy: compare within a run):
//  - plain QEMU boot: the same -M microvm machine and kernel with a busybox /init that prints one line (no jail, no
//    agent, no virtio devices): the floor a cold boot cannot beat;
//  - cold boot to first exec output (jailed QEMU → PVH vmlinux → agent as PID 1 → SetupGuest → `echo hello`), with
//    Debian's kernel and, when `sandbox kernel build` has built it, the minimal one;
//  - restore from a snapshot template to first exec output (QEMU -incoming defer over the template's RAM memfd →
//    migrate-incoming → cont → SetupGuest → `echo hello`), per kernel;
//  - exec round trip on a live restored microVM (`true`, start to exit status);
//  - host memory (PSS/RSS of QEMU) of one idle restored and one idle cold-booted VM (bench/microvm-density holds 50).
// Usage: dotnet run -c Release --project bench/microvm-start -- [runs=10] [rootfs directory; default the host's]
// SANDBOX_BENCH_TIMELINE=1 prints each start's timeline (host and guest stages, MicroVmStartTimeline).
// SANDBOX_BENCH_QEMU_B=/opt/qemu10/usr/bin/qemu-system-x86_64: every variant also with that QEMU (MicroVmOptions.QemuPath),
// interleaved with the default one's in the same rounds; each line names its QEMU's version.
var timelines = Environment.GetEnvironmentVariable("SANDBOX_BENCH_TIMELINE") == "1";
var runs = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 10;
var rootfs = args.Length > 1 ? RootfsSpec.Directory(Path.GetFullPath(args[1])) : RootfsSpec.Host;
SandboxSpec NewSpec() => new() { Rootfs = rootfs };
var agentDirectory = Environment.GetEnvironmentVariable("SANDBOX_AGENT_DIR");
// SANDBOX_KERNEL_DIR: another kernel cache (current/ and minimal/current) than the tier's default.
var kernelDirectory = Environment.GetEnvironmentVariable("SANDBOX_KERNEL_DIR") is { Length: > 0 } k ? k : new MicroVmOptions().KernelCacheDirectory;
var options = new MicroVmOptions { AgentDirectory = agentDirectory, KernelCacheDirectory = kernelDirectory };
var debian = GuestKernel.LocateDebian(options.KernelCacheDirectory);
var minimal = MinimalKernelBuilder.TryLocate(options.KernelCacheDirectory);
var kernels = new List<(string Name, GuestKernel Kernel, bool Minimal, string Cache)> { ("debian", debian, false, kernelDirectory) };
if (minimal is not null) kernels.Add(("minimal", minimal, true, kernelDirectory));
// SANDBOX_KERNEL_DIR_B: a second kernel cache whose minimal kernel runs as "minimal-b" beside the first (an A/B of two
// builds, e.g. two configs, in one run).
if (Environment.GetEnvironmentVariable("SANDBOX_KERNEL_DIR_B") is { Length: > 0 } cacheB)
    kernels.Add(("minimal-b", MinimalKernelBuilder.TryLocate(cacheB) ?? throw new InvalidOperationException($"no minimal kernel in {cacheB}"), true, cacheB));
// SANDBOX_BENCH_KERNELS=minimal (or debian, or minimal,minimal-b): only those kernels' variants.
if (Environment.GetEnvironmentVariable("SANDBOX_BENCH_KERNELS") is { Length: > 0 } only)
    kernels.RemoveAll(k => !only.Split(',').Contains(k.Name));
var qemus = new List<(string Label, string Path)> { ("", options.QemuPath) };
if (Environment.GetEnvironmentVariable("SANDBOX_BENCH_QEMU_B") is { Length: > 0 } qemuB)
    qemus = [($", QEMU {QemuVersion(options.QemuPath)}", options.QemuPath), ($", QEMU {QemuVersion(qemuB)}", qemuB)];
var probe = await new MicroVmDriver(options).ProbeAcceleratorAsync(CancellationToken.None);
Console.WriteLine($"accelerator: {probe.Accelerator} ({probe.Reason})");
Console.WriteLine($"host: {Environment.ProcessorCount} CPUs, {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}, load {File.ReadAllText("/proc/loadavg").Trim()}");
Console.WriteLine($"rootfs: {(args.Length > 1 ? args[1] : "the host's userland")}; kernels: {string.Join(", ", kernels.Select(k => $"{k.Name} {k.Kernel.Version}"))}" +
    (minimal is null ? " (no minimal kernel built: sandbox kernel build)" : ""));

// SANDBOX_BENCH_UNSEEDED=1 adds the same starts with the guest RNG left to the kernel's own entropy
// (MicroVmOptions.SeedGuestRngFromCpu = false: how every start was before), round robin with the seeded ones.
var unseeded = Environment.GetEnvironmentVariable("SANDBOX_BENCH_UNSEEDED") == "1";
// SANDBOX_BENCH_NORANDMAPS=1 adds restores and exec round trips of guests booted without user address randomization
// (MicroVmOptions.GuestAddressSpaceRandomization = false), round robin with the default ones.
var norandmaps = Environment.GetEnvironmentVariable("SANDBOX_BENCH_NORANDMAPS") == "1";
// SANDBOX_BENCH_THP_OFF=1 adds restores and exec round trips of clones whose QEMU has transparent huge pages off
// (MicroVmOptions.TranslationBufferHugePages = false: how every QEMU ran before), round robin with the default ones.
var thpOff = Environment.GetEnvironmentVariable("SANDBOX_BENCH_THP_OFF") == "1";
// SANDBOX_BENCH_NO_COLD=1 leaves the cold boots out of the round robin (restores and plain boots only: a cold boot under
// TCG on a loaded host takes most of a run).
var noCold = Environment.GetEnvironmentVariable("SANDBOX_BENCH_NO_COLD") == "1";
// SANDBOX_BENCH_EXEC_ONLY=1: only the exec round trips (no starts timed, no memory figures).
var execOnly = Environment.GetEnvironmentVariable("SANDBOX_BENCH_EXEC_ONLY") == "1";
noCold |= execOnly;
// SANDBOX_BENCH_BASELINE_AGENT=DIR: the exec round trips also on VMs running the agent of DIR (another build, e.g.
// main's), alternated with this build's in one run.
var baselineAgent = Environment.GetEnvironmentVariable("SANDBOX_BENCH_BASELINE_AGENT") is { Length: > 0 } b ? Path.GetFullPath(b) : null;
MicroVmDriver NewDriver(bool minimal, bool templates, bool seeded, bool randomized = true, string? agent = null, bool hugePages = true, string? qemu = null,
    string? cache = null) => new(new MicroVmOptions
{
    QemuPath = qemu ?? options.QemuPath, AgentDirectory = agent ?? agentDirectory, KernelCacheDirectory = cache ?? kernelDirectory, MinimalKernel = minimal, SnapshotTemplates = templates,
    SeedGuestRngFromCpu = seeded, GuestAddressSpaceRandomization = randomized, TranslationBufferHugePages = hugePages,
});
var labelWidth = qemus.Count > 1 ? 86 : 66;
// Keyed by kernel name and QEMU label ("minimal, QEMU 10.0.2"; the name alone without SANDBOX_BENCH_QEMU_B).
var drivers = kernels.SelectMany(k => qemus.Select(q => (k, q))).ToDictionary(x => x.k.Name + x.q.Label, x => (
    Cold: NewDriver(x.k.Minimal, templates: false, seeded: true, qemu: x.q.Path, cache: x.k.Cache),
    Restore: NewDriver(x.k.Minimal, templates: true, seeded: true, qemu: x.q.Path, cache: x.k.Cache),
    ColdUnseeded: NewDriver(x.k.Minimal, templates: false, seeded: false, qemu: x.q.Path, cache: x.k.Cache),
    RestoreUnseeded: NewDriver(x.k.Minimal, templates: true, seeded: false, qemu: x.q.Path, cache: x.k.Cache),
    RestoreNorandmaps: NewDriver(x.k.Minimal, templates: true, seeded: true, randomized: false, qemu: x.q.Path, cache: x.k.Cache),
    RestoreThpOff: NewDriver(x.k.Minimal, templates: true, seeded: true, hugePages: false, qemu: x.q.Path, cache: x.k.Cache)));

// SANDBOX_BENCH_PROCESS_PROBE=1: only what one process start costs in a cold-booted guest of the preferred kernel,
// with the guest's address-space randomization as it is and with it off for the loop (setarch -R), then exit.
if (Environment.GetEnvironmentVariable("SANDBOX_BENCH_PROCESS_PROBE") == "1")
{
    var driver = drivers[kernels[^1].Name + qemus[^1].Label].Cold;
    await using var vm = (MicroVmSandbox)await driver.CreateAsync(NewSpec() with { ExtraSyscalls = ["personality"] }, CancellationToken.None);
    await RoundTrip(vm);
    foreach (var prefix in new[] { "", "setarch x86_64 -R ", "", "setarch x86_64 -R " })
    {
        var text = new MemoryStream();
        var p = await vm.ExecAsync(new ProcessSpec { Argv = ["bash", "-c", $"cat /proc/sys/kernel/randomize_va_space; TIMEFORMAT=%R; {prefix}bash -c 'time (for i in $(seq 40); do /usr/bin/true; done)'"] },
            new ProcessIO { Stdout = text, Stderr = text }, CancellationToken.None);
        await p.WaitAsync(CancellationToken.None);
        Console.WriteLine($"[{prefix.Trim()}] {Encoding.UTF8.GetString(text.ToArray()).Replace('\n', ' ')} (s per 40 execs); load {File.ReadAllText("/proc/loadavg").Trim()}");
    }
    return;
}

// Warm-up: the initramfs and /etc caches, the page cache; then each kernel's template (timed; 0 when cached).
foreach (var name in kernels.SelectMany(k => qemus.Select(q => k.Name + q.Label)))
{
    if (!noCold)
        await using (var warm = await drivers[name].Cold.CreateAsync(NewSpec(), CancellationToken.None)) { }
    var buildClock = Stopwatch.StartNew();
    if (unseeded)
        await drivers[name].RestoreUnseeded.BuildTemplateAsync(NewSpec(), m => Console.WriteLine($"  [{name}, unseeded] {m}"), CancellationToken.None);
    if (norandmaps)
        await drivers[name].RestoreNorandmaps.BuildTemplateAsync(NewSpec(), m => Console.WriteLine($"  [{name}, norandmaps] {m}"), CancellationToken.None);
    var template = await drivers[name].Restore.BuildTemplateAsync(NewSpec(), m => Console.WriteLine($"  [{name}] {m}"), CancellationToken.None);
    Console.WriteLine($"[{name}] template {template.Key}: {buildClock.Elapsed.TotalSeconds:0.00} s (0 if it was cached); " +
        $"state {new FileInfo(template.StatePath).Length / 1024.0:0.0} KiB, RAM file {DiskMiB(template.RamPath):0.0} MiB on disk");
}
using var plainInitrd = PlainInitramfs.Create();

// Wall seconds and the emulator's CPU seconds of each start: under a loaded host the wall time mostly measures the
// other processes, while QEMU's own CPU time (its cgroup's usage; the plain QEMU's process time) is what the start
// costs and moves much less with the load.
var results = new Dictionary<string, List<(double Wall, double Cpu, double CreatedCpu)>>();
void Add(string key, (double Wall, double Cpu, double CreatedCpu) sample) => (results.TryGetValue(key, out var list) ? list : results[key] = []).Add(sample);
for (var i = 0; i < (execOnly ? 0 : runs); i++)
{
    foreach (var (kernelName, kernel, isMinimal, _) in kernels)
    foreach (var (qemuLabel, qemuPath) in i % 2 == 0 ? qemus : Enumerable.Reverse(qemus)) // each QEMU goes first every other round
    {
        var name = kernelName + qemuLabel;
        Add($"plain QEMU boot, {kernelName} kernel{qemuLabel}", await PlainBoot(qemuPath, kernel.VmlinuxPath, plainInitrd.Path, probe.Accelerator));
        if (!noCold)
            Add($"cold boot to first exec output, {kernelName} kernel{qemuLabel}", await FirstOutput(drivers[name].Cold, expectTemplate: false, kernel));
        // With SANDBOX_BENCH_THP_OFF that restore goes first every other round (a fixed order would favour one side).
        if (thpOff && i % 2 == 1)
            Add($"restore to first exec output, {kernelName} kernel, THP off{qemuLabel}", await FirstOutput(drivers[name].RestoreThpOff, expectTemplate: true, kernel));
        Add($"restore to first exec output, {kernelName} kernel{qemuLabel}", await FirstOutput(drivers[name].Restore, expectTemplate: true, kernel));
        if (unseeded)
        {
            if (!noCold)
                Add($"cold boot to first exec output, {kernelName} kernel, unseeded RNG{qemuLabel}", await FirstOutput(drivers[name].ColdUnseeded, expectTemplate: false, kernel));
            Add($"restore to first exec output, {kernelName} kernel, unseeded RNG{qemuLabel}", await FirstOutput(drivers[name].RestoreUnseeded, expectTemplate: true, kernel));
        }
        if (norandmaps)
            Add($"restore to first exec output, {kernelName} kernel, norandmaps{qemuLabel}", await FirstOutput(drivers[name].RestoreNorandmaps, expectTemplate: true, kernel));
        if (thpOff && i % 2 == 0)
            Add($"restore to first exec output, {kernelName} kernel, THP off{qemuLabel}", await FirstOutput(drivers[name].RestoreThpOff, expectTemplate: true, kernel));
    }
}
foreach (var (what, samples) in results)
{
    var values = samples.Select(v => v.Wall).ToList();
    var cpu = samples.Select(v => v.Cpu).ToList();
    var created = samples.Select(v => v.CreatedCpu).ToList();
    Console.WriteLine($"{what.PadRight(labelWidth)} p50 {Percentile(values, 50):0.000} s, p95 {Percentile(values, 95):0.000} s, min {values.Min():0.000} s ({values.Count} runs); " +
        $"QEMU CPU p50 {Percentile(cpu, 50):0.000} s, min {cpu.Min():0.000} s" +
        (created.Any(c => c > 0) ? $" (of it until set up: p50 {Percentile(created, 50):0.000} s)" : ""));
}

// Exec round trip on live restored VMs of the kernel the tier picks by default: every variant in blocks of 5,
// alternated (this agent; with SANDBOX_BENCH_NORANDMAPS also without address randomization; with
// SANDBOX_BENCH_BASELINE_AGENT both again with the baseline agent).
var preferred = kernels[^1].Name;
var isMinimalPreferred = kernels[^1].Minimal;
var variants = new List<(string Label, MicroVmDriver Driver)>();
foreach (var (qemuLabel, _) in qemus)
{
    variants.Add((qemuLabel, drivers[preferred + qemuLabel].Restore));
    if (norandmaps) variants.Add((", norandmaps" + qemuLabel, drivers[preferred + qemuLabel].RestoreNorandmaps));
    if (thpOff) variants.Add((", THP off" + qemuLabel, drivers[preferred + qemuLabel].RestoreThpOff));
}
if (baselineAgent is not null)
{
    variants.Add((", baseline agent", NewDriver(isMinimalPreferred, templates: true, seeded: true, agent: baselineAgent, cache: kernels[^1].Cache)));
    if (norandmaps)
        variants.Add((", norandmaps, baseline agent", NewDriver(isMinimalPreferred, templates: true, seeded: true, randomized: false, agent: baselineAgent, cache: kernels[^1].Cache)));
    foreach (var (label, driver) in variants.Where(v => v.Label.Contains("baseline")))
        await driver.BuildTemplateAsync(NewSpec(), m => Console.WriteLine($"  [{preferred}{label}] {m}"), CancellationToken.None);
}
var lives = new List<MicroVmSandbox>();
try
{
    foreach (var (_, driver) in variants)
        lives.Add((MicroVmSandbox)await driver.CreateAsync(NewSpec(), CancellationToken.None));
    foreach (var live in lives)
        await RoundTrip(live); // first-time guest code
    var trips = lives.Select(_ => new List<double>()).ToList();
    var tripCpu = lives.Select(_ => TimeSpan.Zero).ToArray();
    for (var block = 0; block < Math.Max(4, runs); block++)
    {
        for (var v = 0; v < lives.Count; v++)
        {
            var before = (await lives[v].GetStatsAsync(CancellationToken.None)).CpuTime;
            for (var i = 0; i < 5; i++)
                trips[v].Add(await RoundTrip(lives[v]));
            tripCpu[v] += (await lives[v].GetStatsAsync(CancellationToken.None)).CpuTime - before;
        }
    }
    for (var v = 0; v < lives.Count; v++)
        Console.WriteLine($"{$"exec round trip (true) on a live microVM, {preferred} kernel{variants[v].Label}".PadRight(labelWidth)} p50 {Percentile(trips[v], 50) * 1000:0.0} ms, " +
            $"p95 {Percentile(trips[v], 95) * 1000:0.0} ms, min {trips[v].Min() * 1000:0.0} ms ({trips[v].Count} execs{(lives.Count > 1 ? ", blocks of 5 alternated" : "")}); " +
            $"QEMU CPU {tripCpu[v].TotalMilliseconds / trips[v].Count:0.0} ms per exec");
    Console.WriteLine($"load {File.ReadAllText("/proc/loadavg").Trim()}");
    // Where an exec's time goes: the Exec call (the guest resolves and spawns), the rest (the process runs and exits,
    // the output and wait long polls end); the guest's own spawn (its stages of the last exec); and what a process
    // start costs inside the guest without the agent (bash forking /usr/bin/true).
    for (var v = 0; v < lives.Count; v++)
        await ExecBreakdown(lives[v], variants[v].Label.Length == 0 ? "" : variants[v].Label[2..] + ": ");
}
finally
{
    foreach (var live in lives)
        await live.DisposeAsync();
}
if (execOnly) return;

foreach (var name in kernels.SelectMany(k => qemus.Select(q => k.Name + q.Label)))
{
    await using var restored = (MicroVmSandbox)await drivers[name].Restore.CreateAsync(NewSpec(), CancellationToken.None);
    await using var cold = (MicroVmSandbox)await drivers[name].Cold.CreateAsync(NewSpec(), CancellationToken.None);
    await RoundTrip(restored);
    await RoundTrip(cold);
    var r = restored.HostMemory();
    var c = cold.HostMemory();
    // What an idle VM costs the host's CPUs (its QEMU's cgroup over 5 s of doing nothing: timer wake-ups emulated).
    var idleBefore = (await restored.GetStatsAsync(CancellationToken.None)).CpuTime;
    await Task.Delay(TimeSpan.FromSeconds(5));
    var idleCpu = ((await restored.GetStatsAsync(CancellationToken.None)).CpuTime - idleBefore).TotalMilliseconds / 5;
    Console.WriteLine($"[{name}] one idle VM: restored PSS {r.PssBytes / 1048576.0:0.0} MiB, RSS {r.RssBytes / 1048576.0:0.0} MiB; " +
        $"cold-booted PSS {c.PssBytes / 1048576.0:0.0} MiB, RSS {c.RssBytes / 1048576.0:0.0} MiB; idle restored VM's QEMU CPU {idleCpu:0.0} ms/s");
}

async Task ExecBreakdown(MicroVmSandbox live, string label)
{
    var calls = new List<double>();
    var spawns = new List<double>();
    // Both agents' stages (before the eighth round the agent moved itself into the cgroup and confined a thread).
    string[] spawnStages = ["exec-request", "exec-resolved", "spawn-cgroup-in", "spawn-thread", "spawn-start", "spawn-confined", "spawn-exec-done",
        "spawn-cgroup-out", "exec-spawned", "exec-logged"];
    var steps = new Dictionary<string, List<double>>();
    for (var i = 0; i < 10; i++)
    {
        var clock = Stopwatch.StartNew();
        var p = await live.ExecAsync(new ProcessSpec { Argv = ["true"] }, new ProcessIO(), CancellationToken.None);
        calls.Add(clock.Elapsed.TotalSeconds);
        await p.WaitAsync(CancellationToken.None);
        var stages = (await live.StartTimelineAsync(CancellationToken.None)).Guest.ToDictionary(g => g.Stage, g => g.Boottime);
        spawns.Add((stages["exec-spawned"] - stages["exec-request"]).TotalSeconds);
        var order = spawnStages.Where(stages.ContainsKey).ToList();
        for (var j = 1; j < order.Count; j++)
            (steps.TryGetValue(order[j], out var list) ? list : steps[order[j]] = []).Add((stages[order[j]] - stages[order[j - 1]]).TotalSeconds);
    }
    Console.WriteLine($"  {label}guest spawn stages, p50 ms from the previous one: " +
        string.Join(", ", spawnStages.Where(steps.ContainsKey).Select(st => $"{st} {Percentile(steps[st], 50) * 1000:0.0}")));
    // One agent call alone (Ping, which also returns the timeline): what each of an exec's calls (Exec, Wait, two
    // ReadOutput) costs in transport and dispatch, in wall time and in QEMU's CPU.
    var pings = new List<double>();
    var pingCpuBefore = (await live.GetStatsAsync(CancellationToken.None)).CpuTime;
    for (var i = 0; i < 20; i++)
    {
        var clock = Stopwatch.StartNew();
        await live.StartTimelineAsync(CancellationToken.None);
        pings.Add(clock.Elapsed.TotalSeconds);
    }
    var pingCpu = ((await live.GetStatsAsync(CancellationToken.None)).CpuTime - pingCpuBefore).TotalMilliseconds / pings.Count;
    Console.WriteLine($"  {label}one agent call (Ping) p50 {Percentile(pings, 50) * 1000:0.0} ms, min {pings.Min() * 1000:0.0} ms; QEMU CPU {pingCpu:0.0} ms per call");
    // bash's loop of 40 fork+execs against the same loop without the exec (`:`), each started once untimed: the QEMU
    // CPU of one process start in this guest, the agent's path left out.
    async Task<(double Wall, double Cpu)> Loop(string body)
    {
        var text = new MemoryStream();
        var cpuBefore = (await live.GetStatsAsync(CancellationToken.None)).CpuTime;
        var bash = await live.ExecAsync(new ProcessSpec { Argv = ["bash", "-c", $"{body}; TIMEFORMAT=%R; time (for i in $(seq 40); do {body}; done)"] },
            new ProcessIO { Stderr = text }, CancellationToken.None);
        await bash.WaitAsync(CancellationToken.None);
        var cpu = ((await live.GetStatsAsync(CancellationToken.None)).CpuTime - cpuBefore).TotalMilliseconds;
        return (double.Parse(Encoding.UTF8.GetString(text.ToArray()).Trim(), CultureInfo.InvariantCulture) / 40, cpu);
    }
    var empty = await Loop(":");
    var process = await Loop("/usr/bin/true");
    Console.WriteLine($"  {label}exec call (resolve + spawn, answered) p50 {Percentile(calls, 50) * 1000:0.0} ms; guest spawn alone p50 {Percentile(spawns, 50) * 1000:0.0} ms; " +
        $"a fork+exec of /usr/bin/true by bash in the guest {process.Wall * 1000:0.0} ms, QEMU CPU {(process.Cpu - empty.Cpu) / 40:0.0} ms per process");
}

async Task<(double Wall, double Cpu, double CreatedCpu)> FirstOutput(MicroVmDriver driver, bool expectTemplate, GuestKernel kernel)
{
    var stopwatch = Stopwatch.StartNew();
    using var sampler = timelines ? new QemuCpuSampler(stopwatch) : null;
    await using var sandbox = (MicroVmSandbox)await driver.CreateAsync(NewSpec(), CancellationToken.None);
    if ((sandbox.Template is not null) != expectTemplate)
        throw new InvalidOperationException(expectTemplate ? "expected a restore, got a cold boot" : "expected a cold boot");
    var createdCpu = (await sandbox.GetStatsAsync(CancellationToken.None)).CpuTime.TotalSeconds;
    var first = new FirstByteStream(stopwatch);
    var p = await sandbox.ExecAsync(new ProcessSpec { Argv = ["echo", "hello"] }, new ProcessIO { Stdout = first }, CancellationToken.None);
    await p.WaitAsync(CancellationToken.None);
    var cpu = (await sandbox.GetStatsAsync(CancellationToken.None)).CpuTime.TotalSeconds; // to the exit, a hair after the output
    if (first.ToString() != "hello\n") throw new InvalidOperationException($"unexpected output '{first}'");
    if (kernel.IsMinimal != (sandbox.GuestKernel != debian.Version))
        throw new InvalidOperationException($"booted kernel {sandbox.GuestKernel}, expected {kernel.Version}");
    if (timelines)
    {
        var timeline = await sandbox.StartTimelineAsync(CancellationToken.None);
        Console.WriteLine($"  timeline of a {(expectTemplate ? "restore" : "cold boot")}, {kernel.Version}, first output at +{first.At!.Value.TotalSeconds:0.000} s:");
        Console.WriteLine("    " + timeline.Format().Replace("\n", "\n    "));
        // QEMU's own CPU at each stage (sampled from its /proc stat; the host clock of the timeline is CreateAsync's,
        // which starts with this stopwatch, within a millisecond).
        if (sampler is not null)
            Console.WriteLine("    QEMU CPU at: " + string.Join(", ", timeline.OnHostClock().Select(s => $"{s.Stage} {sampler.CpuAt(s.At):0.00}")) +
                $"; first output {sampler.CpuAt(first.At!.Value):0.00} s; at the exit: user {sampler.Last().User:0.00} s, system {sampler.Last().System:0.00} s, " +
                $"{sampler.Last().MinorFaults} minor faults");
    }
    return (first.At!.Value.TotalSeconds, cpu, createdCpu);
}

static async Task<double> RoundTrip(ISandbox sandbox)
{
    var clock = Stopwatch.StartNew();
    var p = await sandbox.ExecAsync(new ProcessSpec { Argv = ["true"] }, new ProcessIO(), CancellationToken.None);
    var status = await p.WaitAsync(CancellationToken.None);
    if (status.ExitCode != 0) throw new InvalidOperationException($"true exited with {status.ExitCode}");
    return clock.Elapsed.TotalSeconds;
}

static string QemuVersion(string qemu)
{
    using var p = Process.Start(new ProcessStartInfo(qemu, ["--version"]) { RedirectStandardOutput = true })!;
    var first = p.StandardOutput.ReadLine() ?? "";
    p.WaitForExit();
    return first.Split(' ') is [_, _, "version", var version, ..] ? version : first;
}

// QEMU as plainly as it boots this kernel: start to the init script's line on the serial console.
static async Task<(double Wall, double Cpu, double CreatedCpu)> PlainBoot(string qemuPath, string vmlinux, string initrd, Accelerator accel)
{
    var cmdline = QemuCommandLine.TunedKernelCommandLine(accel, accel == Accelerator.Tcg ? QemuCommandLine.HostTscKHz() : 0) + " rdinit=/init";
    var info = new ProcessStartInfo(qemuPath) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
    // The firmware of a QEMU in a prefix of its own, as the tier gives it (QemuInstall; the module directory only
    // matters for devices this machine does not have).
    var install = QemuInstall.Locate(qemuPath);
    if (install.FirmwareDirectory is { } firmware)
        foreach (var a in new[] { "-L", firmware })
            info.ArgumentList.Add(a);
    if (install.Bios is { } bios)
        foreach (var a in new[] { "-bios", bios })
            info.ArgumentList.Add(a);
    foreach (var a in new[] { "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-M", "microvm",
                 "-accel", accel == Accelerator.Kvm ? "kvm" : "tcg,tb-size=64", "-cpu", accel == Accelerator.Kvm ? "host" : QemuCommandLine.TcgCpu, "-m", "256M", "-smp", "1",
                 "-kernel", vmlinux, "-initrd", initrd, "-append", cmdline, "-chardev", "stdio,id=console,signal=off", "-serial", "chardev:console" })
        info.ArgumentList.Add(a);
    var clock = Stopwatch.StartNew();
    using var qemu = Process.Start(info)!;
    _ = qemu.StandardError.ReadToEndAsync();
    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
    try
    {
        while (await qemu.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.Contains("plain-ready", StringComparison.Ordinal))
                return (clock.Elapsed.TotalSeconds, qemu.TotalProcessorTime.TotalSeconds, 0);
        }
        throw new InvalidOperationException($"plain QEMU exited with {qemu.ExitCode} before its init printed");
    }
    finally
    {
        if (!qemu.HasExited) qemu.Kill();
        await qemu.WaitForExitAsync();
    }
}

static double DiskMiB(string path)
{
    var psi = new ProcessStartInfo("du", ["-k", path]) { RedirectStandardOutput = true };
    using var du = Process.Start(psi)!;
    var text = du.StandardOutput.ReadToEnd();
    du.WaitForExit();
    return double.Parse(text.Split('\t')[0], CultureInfo.InvariantCulture) / 1024;
}

static double Percentile(List<double> values, int p)
{
    var sorted = values.Order().ToList();
    var rank = (int)Math.Ceiling(p / 100.0 * sorted.Count) - 1;
    return sorted[Math.Clamp(rank, 0, sorted.Count - 1)];
}

/// <summary>A cpio initramfs with static busybox and an /init script that prints "plain-ready", idles 10 s (the bench reads QEMU's CPU time while it still runs, then kills it) and reboots (QEMU
/// exits: -no-reboot); built with cpio(1) in a temp directory, deleted on dispose.</summary>
internal sealed class PlainInitramfs : IDisposable
{
    private readonly string _dir;

    private PlainInitramfs(string dir) => _dir = dir;

    public string Path => System.IO.Path.Combine(_dir, "initrd.cpio");

    public static PlainInitramfs Create()
    {
        var dir = Directory.CreateTempSubdirectory("sandbox-bench-plain-").FullName;
        var root = System.IO.Path.Combine(dir, "root");
        Directory.CreateDirectory(System.IO.Path.Combine(root, "bin"));
        Directory.CreateDirectory(System.IO.Path.Combine(root, "dev"));
        File.Copy("/bin/busybox", System.IO.Path.Combine(root, "bin", "busybox"));
        File.WriteAllText(System.IO.Path.Combine(root, "init"), "#!/bin/busybox sh\n/bin/busybox echo plain-ready\n/bin/busybox sleep 10\n/bin/busybox reboot -f\n");
        File.SetUnixFileMode(System.IO.Path.Combine(root, "init"), (UnixFileMode)0b111_101_101);
        Run("/bin/mknod", root, ["dev/console", "c", "5", "1"]);
        Run("/bin/sh", root, ["-c", $"find . | cpio -o -H newc --quiet > {System.IO.Path.Combine(dir, "initrd.cpio")}"]);
        return new PlainInitramfs(dir);
    }

    private static void Run(string program, string directory, string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo(program, args) { WorkingDirectory = directory })!;
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{program} {string.Join(' ', args)} exited with {p.ExitCode}");
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}

/// <summary>Records when the first byte of output arrives.</summary>
internal sealed class FirstByteStream(Stopwatch clock) : Stream
{
    public TimeSpan? At { get; private set; }
    private readonly MemoryStream _data = new();
    public override void Write(byte[] buffer, int offset, int count)
    {
        At ??= clock.Elapsed;
        _data.Write(buffer, offset, count);
    }
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Write(buffer, offset, count);
        return Task.CompletedTask;
    }
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        At ??= clock.Elapsed;
        _data.Write(buffer.Span);
        return ValueTask.CompletedTask;
    }
    public override string ToString() => Encoding.UTF8.GetString(_data.ToArray());
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => _data.Length;
    public override long Position { get => _data.Position; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}

/// <summary>Samples the CPU time of the QEMU this bench process started last (a descendant: the jail's bwrap and
/// setpriv come between) every 5 ms, for the CPU at each stage of a start's timeline.</summary>
internal sealed class QemuCpuSampler : IDisposable
{
    private readonly Stopwatch _clock;
    private readonly List<(TimeSpan At, double Cpu)> _samples = [(TimeSpan.Zero, 0)];
    private string[]? _last;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private static readonly double s_tick = 100.0; // USER_HZ

    public QemuCpuSampler(Stopwatch clock)
    {
        _clock = clock;
        var known = QemuPids().ToHashSet();
        _loop = Task.Run(async () =>
        {
            int? pid = null;
            while (!_stop.IsCancellationRequested)
            {
                pid ??= QemuPids().Where(p => !known.Contains(p) && DescendsFrom(p, Environment.ProcessId)).Cast<int?>().FirstOrDefault();
                if (pid is { } p && Stat(p) is { } f)
                    lock (_samples) { _samples.Add((_clock.Elapsed, (long.Parse(f[11]) + long.Parse(f[12])) / s_tick)); _last = f; }
                await Task.Delay(5).ConfigureAwait(false);
            }
        });
    }

    /// <summary>QEMU's user and system CPU seconds and minor page faults at the last sample.</summary>
    public (double User, double System, long MinorFaults) Last()
    {
        lock (_samples) return _last is { } f ? (long.Parse(f[11]) / s_tick, long.Parse(f[12]) / s_tick, long.Parse(f[7])) : (0, 0, 0);
    }

    /// <summary>QEMU's CPU seconds at host time <paramref name="at"/> (the last sample before it).</summary>
    public double CpuAt(TimeSpan at)
    {
        lock (_samples) return _samples.LastOrDefault(s => s.At <= at).Cpu;
    }

    private static IEnumerable<int> QemuPids() => Directory.EnumerateDirectories("/proc")
        .Select(d => int.TryParse(System.IO.Path.GetFileName(d), out var pid) ? pid : 0)
        .Where(pid => pid > 0 && Comm(pid) == "qemu-system-x86");

    private static string? Comm(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/comm").Trim(); } catch (IOException) { return null; }
    }

    private static string[]? Stat(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/stat");
            return text[(text.LastIndexOf(')') + 2)..].Split(' ');
        }
        catch (IOException) { return null; }
    }


    private static bool DescendsFrom(int pid, int ancestor)
    {
        for (var i = 0; i < 8 && pid > 1; i++)
        {
            if (Stat(pid) is not { } f) return false;
            pid = int.Parse(f[1]);
            if (pid == ancestor) return true;
        }
        return false;
    }

    public void Dispose()
    {
        _stop.Cancel();
        try { _loop.Wait(); } catch (AggregateException) { }
    }
}
