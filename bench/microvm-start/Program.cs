using System.Diagnostics;
using System.Globalization;
using System.Text;
using Sandbox.Isolation;
using Sandbox.Isolation.MicroVm;

// microVM start benchmark, in one run: cold boot (QEMU start → PVH vmlinux → agent as PID 1 → SetupGuest → first
// exec output) vs restore from a snapshot template (QEMU -incoming defer over the template's RAM file mapped
// copy-on-write → migrate-incoming → cont → SetupGuest → first exec output), p50/p95 over N runs each, then host
// memory (PSS/RSS of QEMU, /proc/PID/smaps_rollup) of M idle restored sandboxes held at once.
// Usage: dotnet run -c Release --project bench/microvm-start -- [runs=10] [idle=30] [rootfs directory; default the host's]
var runs = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 10;
var idleCount = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 30;
var rootfs = args.Length > 2 ? RootfsSpec.Directory(args[2]) : RootfsSpec.Host;
Console.WriteLine($"rootfs: {(args.Length > 2 ? args[2] : "the host's userland")}");
SandboxSpec NewSpec() => new() { Rootfs = rootfs };
var coldDriver = new MicroVmDriver(new MicroVmOptions { SnapshotTemplates = false });
var driver = new MicroVmDriver();
var probe = await driver.ProbeAcceleratorAsync(CancellationToken.None);
Console.WriteLine($"accelerator: {probe.Accelerator} ({probe.Reason})");
Console.WriteLine($"host: {Environment.ProcessorCount} CPUs, {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}");

// Warm-up: builds the initramfs and /etc caches, fills the page cache; then the template (timed).
await using (var warm = await coldDriver.CreateAsync(NewSpec(), CancellationToken.None)) { }
var buildClock = Stopwatch.StartNew();
var template = await driver.BuildTemplateAsync(NewSpec(), m => Console.WriteLine("  " + m), CancellationToken.None);
Console.WriteLine($"template {template.Key}: {buildClock.Elapsed.TotalSeconds:0.00} s (0 if it was cached); " +
    $"state {new FileInfo(template.StatePath).Length / 1024.0:0.0} KiB, RAM file {DiskMiB(template.RamPath):0.0} MiB on disk");

async Task<double> FirstOutput(MicroVmDriver d, bool expectTemplate)
{
    var stopwatch = Stopwatch.StartNew();
    await using var sandbox = await d.CreateAsync(NewSpec(), CancellationToken.None);
    if ((((MicroVmSandbox)sandbox).Template is not null) != expectTemplate)
        throw new InvalidOperationException(expectTemplate ? "expected a restore, got a cold boot" : "expected a cold boot");
    var first = new FirstByteStream(stopwatch);
    var p = await sandbox.ExecAsync(new ProcessSpec { Argv = ["echo", "hello"] }, new ProcessIO { Stdout = first }, CancellationToken.None);
    await p.WaitAsync(CancellationToken.None);
    if (first.ToString() != "hello\n") throw new InvalidOperationException($"unexpected output '{first}'");
    return first.At!.Value.TotalSeconds;
}

// Round-robin, so host noise hits both kinds alike.
var cold = new List<double>();
var restore = new List<double>();
for (var i = 0; i < runs; i++)
{
    cold.Add(await FirstOutput(coldDriver, expectTemplate: false));
    restore.Add(await FirstOutput(driver, expectTemplate: true));
}
Console.WriteLine($"cold boot to first exec output:    p50 {Percentile(cold, 50):0.000} s, p95 {Percentile(cold, 95):0.000} s, " +
    $"min {cold.Min():0.000} s over {cold.Count} runs");
Console.WriteLine($"restore to first exec output:      p50 {Percentile(restore, 50):0.000} s, p95 {Percentile(restore, 95):0.000} s, " +
    $"min {restore.Min():0.000} s over {restore.Count} runs");
Console.WriteLine($"speed-up (fastest cold / p50 restore): {cold.Min() / Percentile(restore, 50):0.0}x");

var idle = new List<MicroVmSandbox>();
try
{
    var clock = Stopwatch.StartNew();
    for (var i = 0; i < idleCount; i++)
        idle.Add((MicroVmSandbox)await driver.CreateAsync(NewSpec(), CancellationToken.None));
    var created = clock.Elapsed.TotalSeconds;
    await Task.Delay(TimeSpan.FromSeconds(5));
    foreach (var s in idle) // every one still answers
        await FirstOutputOf(s);
    var memory = idle.Select(s => s.HostMemory()).ToList();
    Console.WriteLine($"idle restored sandboxes held at once: {idle.Count} (created one after another in {created:0.0} s, all answering); " +
        $"per sandbox PSS {memory.Average(m => m.PssBytes) / (1 << 20):0.0} MiB (max {memory.Max(m => m.PssBytes) / (double)(1 << 20):0.0}), " +
        $"RSS {memory.Average(m => m.RssBytes) / (1 << 20):0.0} MiB (QEMU, smaps_rollup)");
}
finally
{
    foreach (var s in idle)
        await s.DisposeAsync();
}
await using (var one = (MicroVmSandbox)await coldDriver.CreateAsync(NewSpec(), CancellationToken.None))
{
    await Task.Delay(TimeSpan.FromSeconds(3));
    var m = one.HostMemory();
    Console.WriteLine($"one idle cold-booted sandbox for comparison: PSS {m.PssBytes / (1 << 20):0.0} MiB, RSS {m.RssBytes / (1 << 20):0.0} MiB");
}

static async Task FirstOutputOf(MicroVmSandbox s)
{
    var output = new MemoryStream();
    var p = await s.ExecAsync(new ProcessSpec { Argv = ["true"] }, new ProcessIO { Stdout = output }, CancellationToken.None);
    await p.WaitAsync(CancellationToken.None);
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
