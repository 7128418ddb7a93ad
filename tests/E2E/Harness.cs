using System.Text;
using Sandbox.Isolation;
using Sandbox.Isolation.Container;
using Sandbox.Isolation.MicroVm;

namespace Sandbox.E2E;

/// <summary>Runs processes in real sandboxes (real bwrap, cgroups, seccomp, agent) and captures what they print.</summary>
public static class Harness
{
    /// <summary>The agent the drivers run: $SANDBOX_AGENT_DIR (the engine reads no environment itself), else its
    /// search path.</summary>
    public static readonly string? AgentDirectory =
        Environment.GetEnvironmentVariable("SANDBOX_AGENT_DIR") is { Length: > 0 } dir ? dir : null;

    public static readonly ISandboxDriver Driver = new BubblewrapDriver(new BubblewrapOptions { AgentDirectory = AgentDirectory });

    /// <summary>Boots get 4 minutes, not the engine's 60 s: a VM with egress cold-boots (a snapshot template has no network
    /// device), and under TCG on this shared 2-core host a cold boot has taken over a minute.
    /// The tier's default QEMU (backports' QEMU 10 in /opt/qemu10 where bootstrap installed it, the system's otherwise);
    /// $SANDBOX_E2E_QEMU runs every microVM test on another (e.g. /usr/bin/qemu-system-x86_64, the system's 7.2), as
    /// sandboxd's microvm.qemu would.</summary>
    public static readonly MicroVmDriver VmDriver = new(new MicroVmOptions
    {
        AgentDirectory = AgentDirectory, BootTimeout = BootTimeout,
        QemuPath = Environment.GetEnvironmentVariable("SANDBOX_E2E_QEMU") is { Length: > 0 } qemu ? qemu : new MicroVmOptions().QemuPath,
    });

    /// <summary>The boot bound of every microVM driver a test makes of its own (see <see cref="VmDriver"/>): the engine's
    /// 60 s is not enough for a cold boot here, and a driver's first sandbox on a machine without its snapshot template
    /// (a clean CI machine, or one whose agent was rebuilt) cold-boots to build it.</summary>
    public static TimeSpan BootTimeout => TimeSpan.FromMinutes(4);

    public static ISandboxDriver DriverFor(ExecutionMode mode) => mode == ExecutionMode.MicroVm ? VmDriver : Driver;

    public sealed record Result(ExitStatus Status, string Stdout, string Stderr, byte[] StdoutBytes);

    public static ProcessSpec Sh(string script) => new() { Argv = ["/bin/sh", "-c", script] };

    /// <summary>Runs <paramref name="script"/> under /bin/sh in a live sandbox, asserts it exited 0 (naming its stderr
    /// if not), and returns its stdout.</summary>
    public static async Task<string> ShOutputAsync(ISandbox sandbox, string script)
    {
        var stdout = new MemoryStream();
        var stderr = new MemoryStream();
        var p = await sandbox.ExecAsync(Sh(script), new ProcessIO { Stdout = stdout, Stderr = stderr }, CancellationToken.None);
        var status = await p.WaitAsync(CancellationToken.None);
        Assert.True(status.ExitCode == 0, $"'{script}' exited with {status.ExitCode}: {Encoding.UTF8.GetString(stderr.ToArray())}");
        return Encoding.UTF8.GetString(stdout.ToArray());
    }

    public static ProcessSpec Python(string code) => new() { Argv = ["/usr/bin/python3", "-c", code] };

    public static async Task<Result> RunAsync(ExecutionMode mode, ProcessSpec process, SandboxSpec? spec = null, byte[]? stdin = null,
        CancellationToken cancellationToken = default)
    {
        spec ??= new SandboxSpec();
        var stdout = new MemoryStream();
        var stderr = new MemoryStream();
        var io = new ProcessIO { Stdout = stdout, Stderr = stderr, Stdin = stdin is null ? null : new MemoryStream(stdin) };
        ExitStatus status;
        if (mode == ExecutionMode.OneShot)
        {
            status = await Driver.RunAsync(spec, process, io, cancellationToken);
        }
        else
        {
            await using var sandbox = await DriverFor(mode).CreateAsync(spec, cancellationToken);
            var p = await sandbox.ExecAsync(process, io, cancellationToken);
            status = await p.WaitAsync(cancellationToken);
        }
        var bytes = stdout.ToArray();
        return new Result(status, Encoding.UTF8.GetString(bytes), Encoding.UTF8.GetString(stderr.ToArray()), bytes);
    }

    /// <summary>Cgroup directories left for a sandbox id, on any hierarchy.</summary>
    public static IReadOnlyList<string> CgroupLeftovers(SandboxId id) =>
        Directory.EnumerateDirectories("/sys/fs/cgroup")
            .SelectMany(h => new[] { Path.Combine(h, "sandbox", id.Value), Path.Combine(h, "sandbox-vm", id.Value) })
            .Concat([Path.Combine("/sys/fs/cgroup", "sandbox", id.Value), Path.Combine("/sys/fs/cgroup", "sandbox-vm", id.Value)])
            .Where(Directory.Exists)
            .ToList();

    /// <summary>bwrap processes that are children of this test process.</summary>
    public static IReadOnlyList<int> OurBwrapChildren()
    {
        var me = Environment.ProcessId.ToString();
        var result = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
                continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var close = stat.LastIndexOf(')');
                var comm = stat[(stat.IndexOf('(') + 1)..close];
                var ppid = stat[(close + 2)..].Split(' ')[1];
                if (ppid == me && comm is "bwrap" or "setpriv" or "unshare")
                    result.Add(pid);
            }
            catch (IOException)
            {
            }
        }
        return result;
    }
}
