using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using Sandbox.Api;
using Sandbox.Api.V1;

namespace Sandbox.Bench.Sandboxd;

/// <summary>A sandboxd of the bench's own (the sandboxd.dll built beside it, or a baseline's, as a child process): its own socket,
/// state dir, cgroup parent and uid ranges, tenant "acme" for root, and a container pool of <c>poolSize</c> (0 = none).</summary>
internal sealed class PrivateSandboxd : IAsyncDisposable
{
    public const string PoolName = "bench";

    private readonly Process _process;
    private readonly string _root;

    public GrpcChannel Channel { get; }
    public Sandboxes.SandboxesClient Client { get; }
    public string SocketPath { get; }
    public int PoolSize { get; }
    public string Name { get; }

    /// <summary>The daemon's cgroup parent, named after this bench process too: another engineer's bench running at the
    /// same time has its own (a shared one had each daemon's restart recovery, pool-full and retired checks see the
    /// other bench's sandboxes).</summary>
    public string CgroupParent => $"sandboxd-bench-{Name}-{Environment.ProcessId}";

    private PrivateSandboxd(string name, Process process, string root, string socket, int poolSize)
    {
        Name = name;
        _process = process;
        _root = root;
        SocketPath = socket;
        PoolSize = poolSize;
        Channel = SandboxdChannel.ForUnixSocket(socket);
        Client = new Sandboxes.SandboxesClient(Channel);
    }

    /// <param name="sandboxdDll">Another build's sandboxd.dll (a baseline for A/B in one run), else the one beside the bench.</param>
    /// <param name="refillConcurrency">pools.refill_concurrency, when given (a baseline build may not know the key).</param>
    /// <param name="agentDirectory">Its agent bundle ($SANDBOX_AGENT_DIR), else the bench's own environment's.</param>
    public static async Task<PrivateSandboxd> StartAsync(string name, int poolSize, int uidRangeBase, string? sandboxdDll = null, int? refillConcurrency = null,
        string? agentDirectory = null)
    {
        var root = Directory.CreateTempSubdirectory("bench-sandboxd-" + name + "-").FullName;
        var socket = Path.Combine(root, "sandboxd.sock");
        var pools = poolSize > 0
            ? $"pools:\n  max_refill_per_s: 50\n{(refillConcurrency is { } c ? $"  refill_concurrency: {c}\n" : "")}  shapes:\n    - {{name: {PoolName}, tier: container, size: {poolSize}, tenant: acme}}\n"
            : "pools: {shapes: []}\n";
        var yaml = $$"""
            listen:
              unix_path: {{socket}}
              unix_mode: "0600"
            tenants:
              - {name: acme, uids: [0], max_sandboxes: 1000, max_memory_mib: 1048576, max_streams: 1000, max_inflight_mib: 8192}
            state_dir: {{root}}/state
            container:
              cgroup_parent: sandboxd-bench-{{name}}-{{Environment.ProcessId}}
              uid_range_base: {{uidRangeBase}}
              uid_range_count: 64
            log:
              level: warning
            {{pools}}
            """;
        var config = Path.Combine(root, "sandboxd.yaml");
        await File.WriteAllTextAsync(config, yaml);
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(sandboxdDll ?? Path.Combine(AppContext.BaseDirectory, "sandboxd.dll"));
        psi.ArgumentList.Add("--config");
        psi.ArgumentList.Add(config);
        if (agentDirectory is not null)
            psi.Environment["SANDBOX_AGENT_DIR"] = agentDirectory;
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, e) => { if (e.Data is { Length: > 0 } line) Console.Error.WriteLine($"  [sandboxd {name}] {line}"); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        var sandboxd = new PrivateSandboxd(name, p, root, socket, poolSize);
        sandboxd.AccountInOwnCgroup();
        var sw = Stopwatch.StartNew();
        while (true)
        {
            if (p.HasExited)
                throw new InvalidOperationException($"sandboxd {name} exited with {p.ExitCode}");
            try
            {
                if (File.Exists(socket))
                {
                    var health = await new Grpc.Health.V1.Health.HealthClient(sandboxd.Channel).CheckAsync(new Grpc.Health.V1.HealthCheckRequest());
                    if (health.Status == Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving)
                        return sandboxd;
                }
            }
            catch (RpcException)
            {
            }
            if (sw.Elapsed > TimeSpan.FromSeconds(60))
                throw new TimeoutException($"sandboxd {name} did not become healthy within 60 s");
            await Task.Delay(100);
        }
    }

    /// <summary>A counter or gauge of the daemon's metrics text ("name{labels}"), 0 when absent.</summary>
    public async Task<double> MetricAsync(string series)
    {
        var text = (await Client.GetMetricsAsync(new GetMetricsRequest())).Text;
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(series + " ", StringComparison.Ordinal))
                return double.Parse(line[(series.Length + 1)..], CultureInfo.InvariantCulture);
        }
        return 0;
    }

    public Task<double> PoolReadyAsync() => MetricAsync($"sandboxd_pool_size{{pool=\"{PoolName}\"}}");

    /// <summary>Waits (untimed) until the pool is full: a warm claim, and no refill running beside the measured call.</summary>
    public async Task WaitPoolFullAsync()
    {
        if (PoolSize == 0)
            return;
        var sw = Stopwatch.StartNew();
        while (!LooksFull() || await PoolReadyAsync() < PoolSize)
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(60))
                throw new TimeoutException("the pool did not fill within 60 s");
            await Task.Delay(5);
        }
    }

    /// <summary>Whether the pool's sandboxes are all there and warm as the host sees them (v1: a directory per sandbox on
    /// the memory hierarchy, each with its prepared exec's sub-cgroup once warm); true where that cannot be read. The
    /// daemon renders its whole metrics text per GetMetrics call: polled every 5 ms until full, that was several
    /// CPU-ms of the measured daemon per pooled run, the bench's cost and not the run's. The metrics still decide.</summary>
    private bool LooksFull()
    {
        var parent = $"/sys/fs/cgroup/memory/{CgroupParent}";
        if (!Directory.Exists(parent))
            return true;
        try
        {
            var sandboxes = Directory.GetDirectories(parent);
            return sandboxes.Length >= PoolSize
                && sandboxes.Count(d => Directory.EnumerateDirectories(d).Any(e => Path.GetFileName(e).StartsWith('e'))) >= PoolSize;
        }
        catch (DirectoryNotFoundException)
        {
            return false; // a retired sandbox's directory went while it was read: look again
        }
    }

    /// <summary>Waits (untimed, bounded) until no sandbox is left but the pool's: the pooled sandboxes retired after
    /// their runs are torn down in the background, and their CPU belongs to the runs that used them. Counted on the
    /// daemon's cgroup parent (one directory per sandbox on the memory hierarchy).</summary>
    public async Task WaitRetiredAsync()
    {
        var parent = $"/sys/fs/cgroup/memory/{CgroupParent}";
        var sw = Stopwatch.StartNew();
        while (Directory.Exists(parent) && Directory.GetDirectories(parent).Length > PoolSize && sw.Elapsed < TimeSpan.FromSeconds(60))
            await Task.Delay(5);
    }

    /// <summary>The daemon's own cpuacct cgroup (v1), beside its cgroup parent: what it starts is charged there until it
    /// is moved into a sandbox's cgroup, and to the sandbox's (under the parent) after. Null where there is no cpuacct
    /// hierarchy: then the count is what the daemon reaped.</summary>
    private string? _daemonCpuacct;

    private const string Cpuacct = "/sys/fs/cgroup/cpuacct";

    /// <summary>Moves the daemon into a cpuacct cgroup of its own, so the CPU of everything it started is counted
    /// wherever that was reaped. The kernel charges cpuacct to a task's cgroup and its ancestors as the task runs, and
    /// a removed sandbox's charge stays in its parent's count; /proc's cutime only has what the daemon itself reaped,
    /// so a sandbox whose bwrap was killed before it reaped the sandbox's init (a v1 cgroup kill takes both at once)
    /// was missing from it: its init and everything under it went to the host's init.</summary>
    private void AccountInOwnCgroup()
    {
        if (!Directory.Exists(Cpuacct))
            return;
        var dir = Path.Combine(Cpuacct, CgroupParent + "-daemon");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "cgroup.procs"), _process.Id.ToString(CultureInfo.InvariantCulture));
        Directory.CreateDirectory(Path.Combine(Cpuacct, CgroupParent));
        _daemonCpuacct = dir;
    }

    private static double CpuacctMs(string dir) =>
        long.Parse(File.ReadAllText(Path.Combine(dir, "cpuacct.usage")).Trim(), CultureInfo.InvariantCulture) / 1e6;

    /// <summary>CPU time of the daemon and of everything it started (the launch helper, bwrap and everything in each
    /// sandbox), ms.</summary>
    public double CpuMs() => _daemonCpuacct is { } daemon
        ? CpuacctMs(daemon) + CpuacctMs(Path.Combine(Cpuacct, CgroupParent))
        : DaemonAndReapedCpuMs();

    /// <summary>sandboxd's own CPU (all its threads: gRPC, policy, Core, the launch, cgroup files, supervision).</summary>
    public double OwnCpuMs() => StatTicksMs(11);

    /// <summary>The CPU of everything sandboxd started (the launch helper, bwrap and everything in each sandbox).</summary>
    public double ChildrenCpuMs() => CpuMs() - OwnCpuMs();

    /// <summary>sandboxd's own CPU and that of the children it reaped (the count before the daemon had a cgroup of its
    /// own; the exec bench's, whose sandbox lives on and is counted apart).</summary>
    public double DaemonAndReapedCpuMs() => OwnCpuMs() + ReapedCpuMs();

    private double ReapedCpuMs() => StatTicksMs(13);

    private double StatTicksMs(int first)
    {
        var stat = File.ReadAllText($"/proc/{_process.Id}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // Fields 14-17 (utime, stime, cutime, cstime) are at 11..14 after the ')' (state is field 3).
        var ticks = Enumerable.Range(first, 2).Sum(i => long.Parse(fields[i], CultureInfo.InvariantCulture));
        return ticks * 1000.0 / 100; // USER_HZ is 100 on Linux
    }

    /// <summary>Context switches (voluntary and not) of the daemon's live threads so far: /proc counts them per thread,
    /// so a thread that has ended takes its own with it (the thread pool keeps its workers while it is busy).</summary>
    public long ContextSwitches()
    {
        long total = 0;
        foreach (var task in Directory.EnumerateDirectories($"/proc/{_process.Id}/task"))
        {
            try
            {
                foreach (var line in File.ReadLines(Path.Combine(task, "status")))
                {
                    if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal) || line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                        total += long.Parse(line[(line.IndexOf(':') + 1)..].Trim(), CultureInfo.InvariantCulture);
                }
            }
            catch (IOException)
            {
                // The thread ended meanwhile.
            }
        }
        return total;
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        if (!_process.HasExited)
        {
            using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]))
                await kill.WaitForExitAsync();
            try
            {
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            }
            catch (TimeoutException)
            {
                // A daemon that does not stop in time (a loaded host) is killed, so neither it nor its directory stays.
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
        if (_daemonCpuacct is not null)
        {
            try { Directory.Delete(_daemonCpuacct); }
            catch (IOException) { }
        }
        // Its cgroup parent, on every hierarchy (v1) or the unified root (v2): the daemon leaves it, and it is this
        // bench's alone. rmdir removes it only when empty: a sandbox left behind would show as a directory that stays.
        foreach (var hierarchy in Directory.Exists("/sys/fs/cgroup") ? ["/sys/fs/cgroup", .. Directory.GetDirectories("/sys/fs/cgroup")] : Array.Empty<string>())
        {
            try { Directory.Delete(Path.Combine(hierarchy, CgroupParent)); }
            catch (IOException) { }
        }
    }
}
