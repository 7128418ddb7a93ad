using System.Net;
using System.Net.Sockets;
using Sandbox.Isolation;

namespace Sandbox.E2E;

/// <summary>Attacks that must fail. Each runs the attack inside a sandbox and checks both what the sandboxed code saw
/// and, where it matters, what the host sees.</summary>
public sealed class EscapeTests : IDisposable
{
    private const string HostSecretPath = "/var/lib/sandbox-escape-test-secret";
    private static readonly string s_secret = "secret-" + Guid.NewGuid().ToString("N");

    public static TheoryData<ExecutionMode> Modes => [ExecutionMode.OneShot, ExecutionMode.Agent, ExecutionMode.MicroVm];

    public EscapeTests()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(HostSecretPath)!);
        File.WriteAllText(HostSecretPath, s_secret);
    }

    public void Dispose()
    {
    }

    /// <summary>Runs python code that calls a raw syscall and prints "ret errno".</summary>
    private static ProcessSpec Syscall(int number, params long[] args) => Harness.Python(
        $"import ctypes\nl=ctypes.CDLL(None,use_errno=True)\nl.syscall.restype=ctypes.c_long\nr=l.syscall({number}{string.Concat(args.Select(a => ", ctypes.c_long(" + a + ")"))})\nprint(r, ctypes.get_errno())");

    private static async Task AssertSyscallDenied(ExecutionMode mode, int number, params long[] args)
    {
        var r = await Harness.RunAsync(mode, Syscall(number, args));
        var parts = r.Stdout.Trim().Split(' ');
        Assert.True(parts.Length == 2, $"unexpected output '{r.Stdout}' stderr '{r.Stderr}'");
        Assert.Equal("-1", parts[0]);
        Assert.Contains(parts[1], new[] { "1", "13", "22", "38" }); // EPERM, EACCES, EINVAL (unmapped id) or ENOSYS
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Host_files_outside_the_rootfs_are_invisible(ExecutionMode mode)
    {
        var r = await Harness.RunAsync(mode, Harness.Sh($"cat {HostSecretPath} 2>&1; ls /var /root /home 2>&1; cat /etc/shadow 2>&1"));
        Assert.DoesNotContain(s_secret, r.Stdout);
        Assert.Contains("No such file", r.Stdout);
    }

    /// <summary>A one-shot's launch chain starts as host root (the launch helper, the image overlay's shell, the drop to the
    /// owner) and its bwrap runs on the host: a request's loader variables reach none of them, only its command. Each
    /// dynamically linked program that got LD_PRELOAD names the missing object on the run's stderr: one line (the
    /// command's shell), not one per program of the chain.</summary>
    [Fact]
    public async Task A_requests_loader_variables_reach_only_its_command()
    {
        const string missing = "/nonexistent-escape-test-preload.so";
        var process = Harness.Sh("echo \"$LD_PRELOAD\"") with { Env = new Dictionary<string, string> { ["LD_PRELOAD"] = missing } };
        var r = await Harness.RunAsync(ExecutionMode.OneShot, process);
        Assert.Equal(missing, r.Stdout.Trim());
        Assert.Equal(1, r.Stderr.Split('\n').Count(l => l.Contains(missing, StringComparison.Ordinal)));
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Host_processes_are_invisible(ExecutionMode mode)
    {
        var r = await Harness.RunAsync(mode, Harness.Sh("ls /proc | grep -c '^[0-9]'; cat /proc/1/comm 2>/dev/null || echo hidden"));
        var lines = r.Stdout.Split('\n');
        Assert.InRange(int.Parse(lines[0]), 1, 6);
        // One-shot: bwrap's reaper is PID 1. Long-lived: the agent is (bwrap --as-pid-1, so the workload cannot signal it).
        // microVM: the guest's /proc is mounted hidepid=invisible, so the agent (PID 1) and the kernel's threads, all
        // root's, are not there at all.
        Assert.Equal(mode switch { ExecutionMode.OneShot => "bwrap", ExecutionMode.Agent => "sandbox-agent", _ => "hidden" }, lines[1]);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Cannot_signal_host_processes(ExecutionMode mode)
    {
        var r = await Harness.RunAsync(mode, Harness.Sh($"kill -0 {Environment.ProcessId} 2>&1 && echo reached || echo blocked"));
        Assert.EndsWith("blocked\n", r.Stdout);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Ptrace_is_denied(ExecutionMode mode) => await AssertSyscallDenied(mode, 101, 16 /* PTRACE_ATTACH */, 1, 0, 0);

    [Theory, MemberData(nameof(Modes))]
    public async Task Mount_is_denied(ExecutionMode mode)
    {
        var r = await Harness.RunAsync(mode, Harness.Sh("mount -t tmpfs none /tmp 2>&1 && echo mounted || echo denied"));
        Assert.EndsWith("denied\n", r.Stdout);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task New_user_namespace_is_denied(ExecutionMode mode)
    {
        var r = await Harness.RunAsync(mode, Harness.Sh("unshare -U -r id 2>&1 && echo unshared || echo denied"));
        Assert.EndsWith("denied\n", r.Stdout);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Module_loading_is_denied(ExecutionMode mode) => await AssertSyscallDenied(mode, 313 /* finit_module */, 0, 0, 0);

    [Theory, MemberData(nameof(Modes))]
    public async Task Keyctl_is_denied(ExecutionMode mode) => await AssertSyscallDenied(mode, 250 /* keyctl */, 0 /* GET_KEYRING_ID */, -3, 0);

    [Theory, MemberData(nameof(Modes))]
    public async Task Bpf_is_denied(ExecutionMode mode) => await AssertSyscallDenied(mode, 321 /* bpf */, 0, 0, 0);

    [Theory, MemberData(nameof(Modes))]
    public async Task Perf_event_open_is_denied(ExecutionMode mode) => await AssertSyscallDenied(mode, 298, 0, 0, -1, -1, 0);

    [Theory, MemberData(nameof(Modes))]
    public async Task Writing_proc_sys_fails(ExecutionMode mode)
    {
        var before = File.ReadAllText("/proc/sys/kernel/hostname");
        var r = await Harness.RunAsync(mode, Harness.Sh("echo pwned > /proc/sys/kernel/hostname 2>&1 && echo wrote || echo denied; echo 1 > /proc/sysrq-trigger 2>&1 || echo denied2"));
        Assert.Contains("denied\n", r.Stdout);
        Assert.Contains("denied2", r.Stdout);
        Assert.Equal(before, File.ReadAllText("/proc/sys/kernel/hostname"));
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Dev_kvm_and_host_devices_are_absent(ExecutionMode mode)
    {
        var r = await Harness.RunAsync(mode, Harness.Sh("ls /dev"));
        var devices = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.DoesNotContain("kvm", devices);
        Assert.DoesNotContain("mem", devices);
        Assert.DoesNotContain(devices, d => d.StartsWith("sd") || d.StartsWith("vd") || d.StartsWith("nvme"));
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Raw_sockets_are_denied(ExecutionMode mode)
    {
        var r = await Harness.RunAsync(mode, Harness.Python(
            "import socket\ntry:\n  socket.socket(socket.AF_INET, socket.SOCK_RAW, 1); print('raw')\nexcept OSError as e: print('denied', e.errno)"));
        Assert.StartsWith("denied", r.Stdout);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Host_network_is_unreachable(ExecutionMode mode)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var r = await Harness.RunAsync(mode, Harness.Python(
            $"import socket\ntry:\n  socket.create_connection(('127.0.0.1', {port}), 2); print('connected')\nexcept OSError as e: print('blocked', e.errno)\n" +
            "import os\nprint(sorted(os.listdir('/sys/class/net')) if os.path.exists('/sys/class/net') else 'no-sys')"));
        Assert.StartsWith("blocked", r.Stdout);
        Assert.False(listener.Pending());
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Only_loopback_exists(ExecutionMode mode)
    {
        var r = await Harness.RunAsync(mode, Harness.Sh("cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '"));
        Assert.Equal("lo\n", r.Stdout);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Filling_the_disk_stops_at_the_tmpfs_cap(ExecutionMode mode)
    {
        // Files under the per-file limit (RLIMIT_FSIZE) until the tmpfs itself is full.
        var spec = new SandboxSpec { Limits = ResourceLimits.Default with { DiskMiB = 8 } };
        var r = await Harness.RunAsync(mode, Harness.Sh(
            "for i in 1 2 3 4; do dd if=/dev/zero of=/tmp/fill$i bs=1M count=4 2>&1 | grep -o 'No space left' ; done; du -sm /tmp | cut -f1"), spec);
        Assert.Contains("No space left", r.Stdout);
        var used = int.Parse(r.Stdout.Trim().Split('\n')[^1]);
        Assert.InRange(used, 0, 9);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Memory_bomb_is_contained(ExecutionMode mode)
    {
        var spec = new SandboxSpec { Limits = ResourceLimits.Default with { MemoryMiB = 48 } };
        var r = await Harness.RunAsync(mode, Harness.Python("x = bytearray(1 << 30)\nprint('allocated', len(x))"), spec);
        Assert.DoesNotContain("allocated", r.Stdout);
        Assert.NotEqual(0, r.Status.ExitCode);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Fork_bomb_is_contained(ExecutionMode mode)
    {
        var spec = new SandboxSpec { Limits = ResourceLimits.Default with { PidsMax = 24, WallTime = TimeSpan.FromSeconds(3) } };
        var r = await Harness.RunAsync(mode, Harness.Sh("bomb() { bomb | bomb & }; bomb; sleep 10"), spec);
        Assert.True(r.Status.TimedOut || r.Status.ExitCode != 0);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Proc_self_exe_cannot_be_overwritten(ExecutionMode mode)
    {
        var r = await Harness.RunAsync(mode, Harness.Python(
            "try:\n  open('/proc/self/exe','wb').write(b'x'); print('overwrote')\nexcept OSError as e: print('denied', e.errno)"));
        Assert.StartsWith("denied", r.Stdout);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Host_binaries_are_read_only(ExecutionMode mode)
    {
        var r = await Harness.RunAsync(mode, Harness.Sh("echo x >> /usr/bin/env 2>&1 || echo denied; touch /etc/newfile 2>&1 || echo denied2"));
        Assert.Contains("denied\n", r.Stdout);
        Assert.Contains("denied2", r.Stdout);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task No_capabilities_and_no_new_privileges(ExecutionMode mode)
    {
        var r = await Harness.RunAsync(mode, Harness.Sh("grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status"));
        Assert.Contains("CapEff:\t0000000000000000", r.Stdout);
        Assert.Contains("CapBnd:\t0000000000000000", r.Stdout);
        Assert.Contains("NoNewPrivs:\t1", r.Stdout);
        Assert.Contains("Seccomp:\t2", r.Stdout);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Setuid_root_is_denied(ExecutionMode mode) => await AssertSyscallDenied(mode, 105 /* setuid */, 0);

    [Theory, MemberData(nameof(Modes))]
    public async Task Sethostname_is_denied(ExecutionMode mode) => await AssertSyscallDenied(mode, 170 /* sethostname */, 0, 0);

    [Theory, MemberData(nameof(Modes))]
    public async Task Io_uring_is_denied(ExecutionMode mode) => await AssertSyscallDenied(mode, 425 /* io_uring_setup */, 1, 0);

    [Theory, MemberData(nameof(Modes))]
    public async Task Userfaultfd_is_denied(ExecutionMode mode) => await AssertSyscallDenied(mode, 323 /* userfaultfd */, 0);

    [Theory, MemberData(nameof(Modes))]
    public async Task Sandboxed_code_inherits_no_descriptor_beyond_stdio(ExecutionMode mode)
    {
        // The agent's host channel, bwrap's status and block sockets, seccomp and /etc memfds: none may reach the code.
        var r = await Harness.RunAsync(mode, Harness.Python("import os\nprint(sorted(int(f) for f in os.listdir('/proc/self/fd')))"));
        Assert.Equal("[0, 1, 2, 3]\n", r.Stdout); // 3 is listdir's own directory descriptor
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Kernel_memory_and_sys_are_not_reachable(ExecutionMode mode)
    {
        var r = await Harness.RunAsync(mode, Harness.Sh("head -c 1 /proc/kcore >/dev/null 2>&1 && echo kcore || echo no-kcore; ls /sys/kernel >/dev/null 2>&1 && echo sys || echo no-sys"));
        Assert.Equal("no-kcore\nno-sys\n", r.Stdout);
    }
}
