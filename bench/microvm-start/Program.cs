using System.Diagnostics;
using System.Globalization;
using System.Text;
using Sandbox.Isolation;
using Sandbox.Isolation.MicroVm;

// microVM start benchmark: cold boot (QEMU start → PVH vmlinux → agent as PID 1 → SetupGuest → first exec output),
// p50/p95 over N runs, then host memory (PSS/RSS of QEMU, /proc/PID/smaps_rollup) of M idle sandboxes held at once.
// Restore from a snapshot template is not built yet: the tool says so instead of inventing a number.
// Usage: dotnet run -c Release --project bench/microvm-start -- [cold-runs=10] [idle=4]
var coldRuns = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 10;
var idleCount = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 4;
var driver = new MicroVmDriver();
var probe = await driver.ProbeAcceleratorAsync(CancellationToken.None);
Console.WriteLine($"accelerator: {probe.Accelerator} ({probe.Reason})");
Console.WriteLine($"host: {Environment.ProcessorCount} CPUs, {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}");

// Warm-up: builds the initramfs and /etc caches, fills the page cache.
await using (var warm = await driver.CreateAsync(new SandboxSpec(), CancellationToken.None)) { }

var cold = new List<double>();
for (var i = 0; i < coldRuns; i++)
{
    var stopwatch = Stopwatch.StartNew();
    await using var sandbox = await driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
    var first = new FirstByteStream(stopwatch);
    var p = await sandbox.ExecAsync(new ProcessSpec { Argv = ["echo", "hello"] }, new ProcessIO { Stdout = first }, CancellationToken.None);
    await p.WaitAsync(CancellationToken.None);
    cold.Add(first.At!.Value.TotalSeconds);
}
Console.WriteLine($"cold boot to first exec output: p50 {Percentile(cold, 50):0.000} s, p95 {Percentile(cold, 95):0.000} s, " +
    $"min {cold.Min():0.000} s over {cold.Count} runs");
Console.WriteLine("restore from snapshot template: not built (no number)");

var idle = new List<MicroVmSandbox>();
try
{
    for (var i = 0; i < idleCount; i++)
        idle.Add((MicroVmSandbox)await driver.CreateAsync(new SandboxSpec(), CancellationToken.None));
    await Task.Delay(TimeSpan.FromSeconds(3));
    var memory = idle.Select(s => s.HostMemory()).ToList();
    Console.WriteLine($"idle cold-booted sandboxes held at once: {idle.Count}; per sandbox PSS {memory.Average(m => m.PssBytes) / (1 << 20):0.0} MiB, " +
        $"RSS {memory.Average(m => m.RssBytes) / (1 << 20):0.0} MiB (QEMU, smaps_rollup)");
}
finally
{
    foreach (var s in idle)
        await s.DisposeAsync();
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
