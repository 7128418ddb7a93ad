using System.Text;
using Sandbox.Isolation;

namespace Sandbox.E2E;

/// <summary>The behaviour suite: the same cases through the one-shot path and through the agent, which must agree.
/// The microVM tier runs this same class against its driver.</summary>
public sealed class BehaviourTests
{
    public static TheoryData<ExecutionMode> Modes => [ExecutionMode.OneShot, ExecutionMode.Agent, ExecutionMode.MicroVm];

    [Theory, MemberData(nameof(Modes))]
    public async Task Exit_code_is_the_process_exit_code(ExecutionMode mode)
    {
        var r = await Harness.RunAsync(mode, Harness.Sh("echo out; echo err >&2; exit 3"));
        Assert.Equal(3, r.Status.ExitCode);
        Assert.Equal(0, r.Status.Signal);
        Assert.Equal("out\n", r.Stdout);
        Assert.Equal("err\n", r.Stderr);
        Assert.False(r.Status.TimedOut);
        Assert.False(r.Status.OomKilled);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task True_exits_zero(ExecutionMode mode)
    {
        var r = await Harness.RunAsync(mode, new ProcessSpec { Argv = ["true"] });
        Assert.Equal(0, r.Status.ExitCode);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Killed_by_signal_reports_128_plus_signal(ExecutionMode mode)
    {
        var r = await Harness.RunAsync(mode, Harness.Sh("kill -TERM $$; sleep 5"));
        Assert.Equal(128 + 15, r.Status.ExitCode);
        Assert.Equal(15, r.Status.Signal);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Stdin_reaches_the_process_and_ends_with_eof(ExecutionMode mode)
    {
        var input = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("line of input\n", 10_000)));
        var r = await Harness.RunAsync(mode, new ProcessSpec { Argv = ["sha256sum"] }, stdin: input);
        Assert.Equal(0, r.Status.ExitCode);
        var expected = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(input));
        Assert.StartsWith(expected, r.Stdout);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Large_output_arrives_whole(ExecutionMode mode)
    {
        var r = await Harness.RunAsync(mode, Harness.Sh("head -c 10000000 /dev/zero | tr '\\0' 'x'"));
        Assert.Equal(0, r.Status.ExitCode);
        Assert.Equal(10_000_000, r.StdoutBytes.Length);
        Assert.All(r.StdoutBytes.Take(1000), b => Assert.Equal((byte)'x', b));
        Assert.False(r.Status.OutputTruncated);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Environment_is_the_spec_merged_over_defaults(ExecutionMode mode)
    {
        var spec = new SandboxSpec { Env = new Dictionary<string, string> { ["FROM_SPEC"] = "s", ["HOME"] = "/tmp" } };
        var process = Harness.Sh("echo $FROM_SPEC $FROM_PROCESS $HOME $PATH; env | grep -c DOTNET || true") with
        {
            Env = new Dictionary<string, string> { ["FROM_PROCESS"] = "p" },
        };
        var r = await Harness.RunAsync(mode, process, spec);
        var lines = r.Stdout.Split('\n');
        Assert.Equal($"s p /tmp {DefaultEnvironment.Path}", lines[0]);
        Assert.Equal("0", lines[1]); // nothing of the host's environment leaks in
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Working_directory_defaults_to_the_work_dir_and_can_be_set(ExecutionMode mode)
    {
        var r1 = await Harness.RunAsync(mode, new ProcessSpec { Argv = ["pwd"] });
        Assert.Equal("/work\n", r1.Stdout);
        var r2 = await Harness.RunAsync(mode, new ProcessSpec { Argv = ["pwd"], WorkingDirectory = "/tmp" });
        Assert.Equal("/tmp\n", r2.Stdout);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Work_dir_and_tmp_are_writable_and_the_rest_is_not(ExecutionMode mode)
    {
        var r = await Harness.RunAsync(mode, Harness.Sh("echo a > /work/f && echo b > /tmp/g && cat /work/f /tmp/g; echo c > /usr/x 2>/dev/null || echo ro"));
        Assert.Equal("a\nb\nro\n", r.Stdout);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Runs_as_an_unprivileged_user_with_a_hostname(ExecutionMode mode)
    {
        var r = await Harness.RunAsync(mode, Harness.Sh("id -u; id -g; hostname; whoami"));
        Assert.Equal("1000\n1000\nsandbox\nsandbox\n", r.Stdout);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Memory_limit_reports_oom(ExecutionMode mode)
    {
        var spec = new SandboxSpec { Limits = ResourceLimits.Default with { MemoryMiB = 64 } };
        var r = await Harness.RunAsync(mode, Harness.Python("b = []\nwhile True: b.append(bytearray(8 << 20))"), spec);
        Assert.True(r.Status.OomKilled, $"expected an OOM kill, got {r.Status} stderr={r.Stderr}");
        Assert.Equal(137, r.Status.ExitCode);
        Assert.Equal(9, r.Status.Signal);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Pids_limit_contains_a_fork_bomb(ExecutionMode mode)
    {
        var spec = new SandboxSpec { Limits = ResourceLimits.Default with { PidsMax = 32, WallTime = TimeSpan.FromSeconds(20) } };
        var r = await Harness.RunAsync(mode, Harness.Python(
            "import os\nn=0\ntry:\n  while True:\n    if os.fork()==0:\n      import time; time.sleep(30)\n    n+=1\nexcept OSError as e:\n  print('blocked', n, e.errno)"), spec);
        Assert.StartsWith("blocked", r.Stdout);
        var forked = int.Parse(r.Stdout.Split(' ')[1]);
        Assert.InRange(forked, 1, 32);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Cpu_quota_throttles(ExecutionMode mode)
    {
        // 1.5 s of wall time busy-looping with a 0.2 CPU quota: the loop gets about 0.3 s of CPU. Only the loop is
        // counted: the interpreter's own start-up costs a second of CPU under TCG emulation.
        var spec = new SandboxSpec { Limits = ResourceLimits.Default with { Cpus = 0.2 } };
        var r = await Harness.RunAsync(mode, Harness.Python(
            "import time,os\nt0=os.times()\nend=time.time()+1.5\nwhile time.time()<end: pass\nt=os.times()\nprint(t.user+t.system-t0.user-t0.system)"), spec);
        var cpu = double.Parse(r.Stdout.Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(cpu, 0.01, 0.9);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Rlimits_are_set(ExecutionMode mode)
    {
        var spec = new SandboxSpec { Limits = ResourceLimits.Default with { OpenFiles = 512, DiskMiB = 32 } };
        var r = await Harness.RunAsync(mode, Harness.Python(
            "import resource as r\nprint(*r.getrlimit(r.RLIMIT_NOFILE), *r.getrlimit(r.RLIMIT_FSIZE), *r.getrlimit(r.RLIMIT_CORE))"), spec);
        if (mode == ExecutionMode.MicroVm)
            Assert.Matches(@"^\d+ \d+ ", r.Stdout); // the guest's own limits; the VM boundary and guest cgroup do the rest
        else
            Assert.Equal($"512 512 {32 << 20} {32 << 20} 0 0\n", r.Stdout);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Wall_clock_limit_reports_timeout(ExecutionMode mode)
    {
        var spec = new SandboxSpec { Limits = ResourceLimits.Default with { WallTime = TimeSpan.FromSeconds(1) } };
        var r = await Harness.RunAsync(mode, new ProcessSpec { Argv = ["sleep", "60"] }, spec);
        Assert.True(r.Status.TimedOut);
        Assert.False(r.Status.OomKilled);
        Assert.True(r.Status.Duration < TimeSpan.FromSeconds(30), r.Status.Duration.ToString());
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Output_beyond_the_cap_is_dropped_and_reported(ExecutionMode mode)
    {
        var spec = new SandboxSpec { Limits = ResourceLimits.Default with { OutputBytes = 1000 } };
        var r = await Harness.RunAsync(mode, Harness.Sh("head -c 1000000 /dev/zero; echo done >&2"), spec);
        Assert.Equal(0, r.Status.ExitCode);
        Assert.Equal(1000, r.StdoutBytes.Length);
        Assert.True(r.Status.OutputTruncated);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Missing_program_is_not_found(ExecutionMode mode)
    {
        var e = await Assert.ThrowsAsync<SandboxException>(() => Harness.RunAsync(mode, new ProcessSpec { Argv = ["no-such-program-xyz"] }));
        Assert.Equal(SandboxErrorCode.NotFound, e.Code);
        Assert.Contains("no-such-program-xyz", e.Message);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Strict_profile_runs_an_interpreter(ExecutionMode mode)
    {
        var spec = new SandboxSpec { SyscallProfile = "strict" };
        var r = await Harness.RunAsync(mode, Harness.Python("print(sum(range(10)))"), spec);
        Assert.Equal("45\n", r.Stdout);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Directory_rootfs_is_the_root(ExecutionMode mode)
    {
        var dir = Directory.CreateTempSubdirectory("sandbox-rootfs-");
        try
        {
            var root = MakeBusyboxLikeRoot(dir.FullName);
            File.WriteAllText(Path.Combine(root, "marker"), "inside\n");
            File.SetUnixFileMode(Path.Combine(root, "marker"), (UnixFileMode)0b110_100_100);
            var spec = new SandboxSpec { Rootfs = RootfsSpec.Directory(root) };
            var r = await Harness.RunAsync(mode, Harness.Sh("read m < /marker; echo $m; test -e /usr && echo usr || echo no-usr"), spec);
            Assert.Equal("inside\nno-usr\n", r.Stdout);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>A rootfs that holds real copies of the host's shell and its libraries: the sandbox sees only it.</summary>
    private static string MakeBusyboxLikeRoot(string dir)
    {
        var root = Path.Combine(dir, "root");
        foreach (var sub in new[] { "bin", "lib/x86_64-linux-gnu", "lib64" })
            Directory.CreateDirectory(Path.Combine(root, sub));
        File.Copy("/bin/dash", Path.Combine(root, "bin/sh"));
        File.Copy("/lib/x86_64-linux-gnu/libc.so.6", Path.Combine(root, "lib/x86_64-linux-gnu/libc.so.6"));
        File.Copy("/lib64/ld-linux-x86-64.so.2", Path.Combine(root, "lib64/ld-linux-x86-64.so.2"));
        foreach (var f in Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories))
            File.SetUnixFileMode(f, File.GetUnixFileMode(f) | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        File.SetUnixFileMode(root, (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
        return root;
    }
}
