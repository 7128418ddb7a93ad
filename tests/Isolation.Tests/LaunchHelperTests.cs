using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Sandbox.Isolation.Agent;
using Sandbox.Isolation.Native;
using Sandbox.Isolation.Users;

namespace Sandbox.Isolation.Tests;

/// <summary>The agent bundle's <c>sandbox-launch</c> (src/Isolation/Native/sandbox-launch.c), run for real as this
/// (root) test process would run it before bwrap: the drop to an unprivileged uid with a one-shot's rlimits, its
/// refusals, and the user namespace it makes as its owner. Needs root and the bundle ($SANDBOX_AGENT_DIR).</summary>
public sealed class LaunchHelperTests
{
    // Far above real accounts, inside no range a sandbox of this host's engines takes.
    private const int Uid = 0x7EFF_0001;
    private const int Gid = 0x7EFF_0002;

    private static string Helper => AgentBundle.Locate(Environment.GetEnvironmentVariable(AgentBundle.EnvironmentVariable)).LaunchHelper();

    private static (int Code, string Stdout, string Stderr) Run(params string[] args)
    {
        var info = new ProcessStartInfo(Helper) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout, stderr.Result);
    }

    [Fact]
    public void Exec_sets_the_rlimits_then_runs_the_program_as_the_uid_and_gid_with_no_groups_or_capabilities()
    {
        var (code, stdout, stderr) = Run([.. AsHostUser.Prefix(Helper, Uid, Gid, ["--rlimits", "77", "1048576"])[1..], "/bin/sh", "-c",
            "id -u; id -g; ulimit -Sn; ulimit -Hn; ulimit -Sf; ulimit -Hf; ulimit -c; grep -E '^(Groups|CapPrm|CapEff|CapAmb|Uid|Gid):' /proc/self/status"]);
        Assert.True(code == 0, $"exit {code}: {stderr}");
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => string.Join(' ', l.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries))).ToArray();
        // dash's ulimit -f counts 512-byte blocks.
        Assert.Equal([$"{Uid}", $"{Gid}", "77", "77", "2048", "2048", "0"], lines[..7]);
        Assert.Contains($"Uid: {Uid} {Uid} {Uid} {Uid}", lines);
        Assert.Contains($"Gid: {Gid} {Gid} {Gid} {Gid}", lines);
        Assert.Contains("Groups:", lines);
        Assert.Contains("CapPrm: 0000000000000000", lines);
        Assert.Contains("CapEff: 0000000000000000", lines);
        Assert.Contains("CapAmb: 0000000000000000", lines);
    }

    [Fact]
    public void Exec_without_rlimits_leaves_them_as_they_were()
    {
        var (code, stdout, stderr) = Run([.. AsHostUser.Prefix(Helper, Uid, Gid, null)[1..], "/bin/sh", "-c", "ulimit -Hn"]);
        Assert.True(code == 0, $"exit {code}: {stderr}");
        Assert.Equal(HostProgram.Run("/bin/sh", "-c", "ulimit -Hn").Trim(), stdout.Trim());
    }

    [Theory]
    [InlineData("exec", "0", "1000")]
    [InlineData("exec", "1000", "0")]
    [InlineData("userns", "0", "0")]
    [InlineData("exec", "-1", "1000")]
    [InlineData("exec", "4294967295", "1000")]
    [InlineData("exec", "1000x", "1000")]
    public void Root_and_malformed_ids_are_refused_before_anything_runs(string mode, string uid, string gid)
    {
        var marker = Path.Combine(Path.GetTempPath(), $"sandbox-launch-test-{Guid.NewGuid():N}");
        var (code, _, stderr) = mode == "exec"
            ? Run(mode, uid, gid, "--", "/usr/bin/touch", marker)
            : Run(mode, uid, gid, "limit");
        Assert.Equal(125, code);
        Assert.StartsWith("sandbox-launch: ", stderr);
        Assert.False(File.Exists(marker));
    }

    [Theory]
    [InlineData("relative/touch")]
    [InlineData(null)]
    public void Exec_takes_only_an_absolute_path_after_the_separator(string? program)
    {
        var (code, _, stderr) = program is null ? Run("exec", $"{Uid}", $"{Gid}", "/bin/true") : Run("exec", $"{Uid}", $"{Gid}", "--", program);
        Assert.Equal(125, code);
        Assert.Contains("expected", stderr);
    }

    [Fact]
    public void A_program_that_cannot_be_run_is_named_with_exit_code_127()
    {
        var (code, _, stderr) = Run("exec", $"{Uid}", $"{Gid}", "--", "/nonexistent/program");
        Assert.Equal(127, code);
        Assert.Equal("sandbox-launch: exec /nonexistent/program: errno 2", stderr.Trim());
    }

    /// <summary>The namespace is owned by the owner uid, carries the host-written range map, and (unless nesting is
    /// allowed) has user.max_user_namespaces 0 inside: looked at from inside with nsenter, as bwrap will join it.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Userns_makes_a_namespace_owned_by_the_uid_with_the_range_map_and_nesting_off(bool allowNested)
    {
        var range = new UidRange(0x7EFE_0000, 65_536);
        using var ns = await SandboxUserNamespace.CreateAsync(Helper, Uid, range, allowNested);
        Assert.Equal((uint)Uid, NamespaceOwner(ns));
        var inside = await RunWithFd3Async(ns, "/usr/bin/nsenter", "--user=/proc/self/fd/3", "--", "/bin/sh", "-c",
            "cat /proc/self/uid_map /proc/self/gid_map /proc/sys/user/max_user_namespaces");
        var lines = inside.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => string.Join(' ', l.Split(' ', StringSplitOptions.RemoveEmptyEntries))).ToArray();
        Assert.Equal($"0 {0x7EFE_0000} 65536", lines[0]);
        Assert.Equal($"0 {0x7EFE_0000} 65536", lines[1]);
        // A new namespace's own limit starts at INT_MAX (the host's still bounds it from above).
        Assert.Equal(allowNested ? $"{int.MaxValue}" : "0", lines[2]);
    }

    private static unsafe uint NamespaceOwner(FileDescriptor ns)
    {
        const ulong NsGetOwnerUid = 0xb704; // _IO(0xb7, 0x4)
        uint uid;
        Assert.Equal(0, Ioctl(ns.Fd, NsGetOwnerUid, &uid));
        return uid;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static extern unsafe int Ioctl(int fd, ulong request, uint* arg);

    /// <summary>Runs a host program with <paramref name="fd"/> as its descriptor 3; its stdout, failing on a non-zero exit.</summary>
    private static async Task<string> RunWithFd3Async(FileDescriptor fd, params string[] argv)
    {
        var (local, remote) = UnixSocketPair.Create();
        using var _ = local;
        int pid;
        using (remote)
            pid = NativeSpawn.Spawn(argv[0], argv, ["PATH=/usr/bin:/bin"], [new(0, 0), new(remote.Fd, 1), new(remote.Fd, 2), new(fd.Fd, 3)], newSession: false);
        using var pidfd = PidfdHandle.Open(pid);
        var output = new MemoryStream();
        var buffer = new byte[4096];
        int n;
        while ((n = await local.ReceiveAsync(buffer, SocketFlags.None)) > 0)
            output.Write(buffer, 0, n);
        var exit = await ProcessWatcher.WatchAsync(pidfd, reap: true);
        var text = Encoding.UTF8.GetString(output.ToArray());
        Assert.True(exit.Status == 0, $"{string.Join(' ', argv)}: {exit}: {text}");
        return text;
    }
}
