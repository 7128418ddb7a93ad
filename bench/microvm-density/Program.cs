using System.Diagnostics;
using System.Globalization;
using Sandbox.Isolation;
using Sandbox.Isolation.MicroVm;

// microVM density: restores N clones of one snapshot template and holds them all at once, idle, each answering an
// exec; reports the PSS and RSS of every clone's QEMU (/proc/PID/smaps_rollup: the template's RAM pages are shared,
// so each clone's PSS counts 1/N of them), the host's available memory before and with them, then removes them all
// and checks that no QEMU of theirs is left.
// Usage: dotnet run -c Release --project bench/microvm-density -- [count=50] [rootfs directory; default the host's]
var count = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 50;
var rootfs = args.Length > 1 ? RootfsSpec.Directory(Path.GetFullPath(args[1])) : RootfsSpec.Host;
var driver = new MicroVmDriver(new MicroVmOptions { AgentDirectory = Environment.GetEnvironmentVariable("SANDBOX_AGENT_DIR") });
var probe = await driver.ProbeAcceleratorAsync(CancellationToken.None);
Console.WriteLine($"accelerator: {probe.Accelerator}; host: {Environment.ProcessorCount} CPUs, load {File.ReadAllText("/proc/loadavg").Trim()}");
Console.WriteLine($"rootfs: {(args.Length > 1 ? args[1] : "the host's userland")}");
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
    foreach (var clone in clones) // every one answers, and has run something
        await RunTrue(clone);
    var memory = clones.Select(c => (c.Info.Id, c.Template, Memory: c.HostMemory())).ToList();
    foreach (var (id, from, m) in memory)
        Console.WriteLine($"  {id}: PSS {MiB(m.PssBytes):0.0} MiB, RSS {MiB(m.RssBytes):0.0} MiB{(from == template.Key ? "" : " (not from the template!)")}");
    var pss = memory.Select(m => MiB(m.Memory.PssBytes)).Order().ToList();
    Console.WriteLine($"clones held at once: {clones.Count}, all answering (created one after another in {created.TotalSeconds:0.0} s, " +
        $"{created.TotalSeconds / clones.Count:0.00} s each)");
    Console.WriteLine($"PSS per clone: mean {pss.Average():0.0} MiB, median {pss[pss.Count / 2]:0.0}, max {pss[^1]:0.0}; total {pss.Sum():0} MiB");
    Console.WriteLine($"RSS per clone: mean {memory.Average(m => MiB(m.Memory.RssBytes)):0.0} MiB");
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

static HashSet<int> QemuPids()
{
    var pids = new HashSet<int>();
    foreach (var dir in Directory.EnumerateDirectories("/proc"))
    {
        if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
        try
        {
            if (File.ReadAllText(Path.Combine(dir, "comm")).StartsWith("qemu", StringComparison.Ordinal)) pids.Add(pid);
        }
        catch (IOException)
        {
        }
    }
    return pids;
}

static async Task RunTrue(MicroVmSandbox sandbox)
{
    var p = await sandbox.ExecAsync(new ProcessSpec { Argv = ["true"] }, new ProcessIO(), CancellationToken.None);
    var status = await p.WaitAsync(CancellationToken.None);
    if (status.ExitCode != 0) throw new InvalidOperationException($"true exited with {status.ExitCode} in {sandbox.Info.Id}");
}

static double MiB(long bytes) => bytes / 1048576.0;

static long MemAvailableMiB() =>
    long.Parse(File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemAvailable:", StringComparison.Ordinal))
        .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
