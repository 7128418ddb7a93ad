using System.Text;
using Google.Protobuf;
using Sandbox.AgentProtocol.V1;
using Sandbox.Isolation.Agent;
using Sandbox.Ttrpc;

namespace Sandbox.Agent.Tests;

/// <summary>The same scenarios against the in-process service and against the real agent process.</summary>
public abstract class AgentBehaviourTests
{
    protected abstract AgentHarness Start();

    private static readonly EnvVar[] DefaultEnv = [new() { Name = "PATH", Value = "/usr/local/bin:/usr/bin:/bin" }];
    private static int _ids;
    private static string NewId() => "e" + Interlocked.Increment(ref _ids);

    internal sealed record Result(string Stdout, string Stderr, WaitResponse Wait, long StdoutBytes);

    private static async Task<string> StartAsync(AgentClient c, string[] argv, EnvVar[]? env = null, string cwd = "", bool stdin = false)
    {
        var id = NewId();
        var request = new ExecRequest { ExecId = id, Cwd = cwd, Stdin = stdin };
        request.Argv.AddRange(argv);
        request.Env.AddRange(env ?? DefaultEnv);
        var r = await c.ExecAsync(request);
        Assert.True(r.Pid > 0);
        return id;
    }

    /// <summary>Waits until <paramref name="pid"/> is blocked in write(2) (/proc/PID/syscall starts with 1) having
    /// written at least 1 MiB, and returns how many bytes it has written (/proc/PID/io wchar). Fails when it exits
    /// first (nothing held it back) or the bound passes.</summary>
    private static async Task<long> BlockedWriterAsync(int pid, TimeSpan bound)
    {
        var deadline = DateTime.UtcNow + bound;
        while (DateTime.UtcNow < deadline)
        {
            string syscall, io;
            try
            {
                syscall = await File.ReadAllTextAsync($"/proc/{pid}/syscall");
                io = await File.ReadAllTextAsync($"/proc/{pid}/io");
            }
            catch (IOException)
            {
                throw new Xunit.Sdk.XunitException($"process {pid} exited instead of blocking: nothing held it back");
            }
            var wchar = long.Parse(io.Split('\n').First(l => l.StartsWith("wchar:", StringComparison.Ordinal))[6..].Trim());
            // Blocked with less than the agent's buffer written is only a slow reader: keep looking.
            if (syscall.StartsWith("1 ", StringComparison.Ordinal) && wchar >= 1L << 20)
                return wchar;
            await Task.Delay(10);
        }
        throw new Xunit.Sdk.XunitException($"process {pid} was not blocked in write(2) within {bound.TotalSeconds} s");
    }

    private static async Task<(string Text, long Bytes)> DrainAsync(AgentClient c, string id, OutputStream stream, bool keepText = true, int max = 0)
    {
        var sb = new StringBuilder();
        long total = 0;
        while (true)
        {
            var r = await c.ReadOutputAsync(id, stream, max);
            if (max > 0) Assert.True(r.Data.Length <= max);
            total += r.Data.Length;
            if (keepText) sb.Append(r.Data.ToStringUtf8());
            if (r.Eof) return (sb.ToString(), total);
        }
    }

    private static async Task<Result> RunAsync(AgentClient c, string[] argv, EnvVar[]? env = null, string cwd = "", byte[]? stdin = null, bool keepText = true)
    {
        var id = await StartAsync(c, argv, env, cwd, stdin is not null);
        if (stdin is not null) await c.WriteStdinAsync(id, stdin, close: true);
        var outTask = DrainAsync(c, id, OutputStream.Stdout, keepText);
        var errTask = DrainAsync(c, id, OutputStream.Stderr);
        var wait = await c.WaitAsync(id);
        var (stdout, bytes) = await outTask;
        return new Result(stdout, (await errTask).Text, wait, bytes);
    }

    [Fact]
    public async Task Ping_ReportsIdentity()
    {
        await using var a = Start();
        var p = await a.Client.PingAsync();
        Assert.Equal("0.1.0", p.Version);
        Assert.True(p.Pid > 0);
        Assert.Equal(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), p.Kernel);
    }

    [Fact]
    public async Task Exec_ExitCodeStdoutStderr()
    {
        await using var a = Start();
        var r = await RunAsync(a.Client, ["sh", "-c", "echo hi; echo err >&2; exit 3"]);
        Assert.Equal("hi\n", r.Stdout);
        Assert.Equal("err\n", r.Stderr);
        Assert.Equal(3, r.Wait.ExitCode);
        Assert.Equal(0, r.Wait.Signal);
        Assert.True(r.Wait.MaxRssKib > 0);
        Assert.True(r.Wait.UserCpuUsec >= 0 && r.Wait.SystemCpuUsec >= 0);
    }

    private static ExecRequest Waiting(string[] argv, uint waitMs, uint maxOutputBytes = 0)
    {
        var request = new ExecRequest { ExecId = NewId(), WaitMs = waitMs, MaxOutputBytes = maxOutputBytes };
        request.Argv.AddRange(argv);
        request.Env.AddRange(DefaultEnv);
        return request;
    }

    [Fact]
    public async Task An_exec_that_waits_answers_with_its_end_and_output()
    {
        await using var a = Start();
        var r = await a.Client.ExecAsync(Waiting(["sh", "-c", "echo hi; echo err >&2; exit 3"], 1000));
        Assert.True(r.Pid > 0);
        Assert.Equal(3, r.Exit.ExitCode);
        Assert.Equal(0, r.Exit.Signal);
        Assert.True(r.Exit.MaxRssKib > 0);
        Assert.Equal("hi\n", r.Stdout.ToStringUtf8());
        Assert.Equal("err\n", r.Stderr.ToStringUtf8());
        Assert.True(r.StdoutEof && r.StderrEof);
        // An exec that did not ask to wait answers at once, with its pid alone.
        var plain = await a.Client.ExecAsync(Waiting(["sh", "-c", "echo hi"], 0));
        Assert.True(plain.Exit is null && plain.Stdout.IsEmpty && !plain.StdoutEof);
    }

    [Fact]
    public async Task An_exec_whose_wait_runs_out_answers_with_what_it_has_and_the_rest_follows()
    {
        await using var a = Start();
        var request = Waiting(["sh", "-c", "echo first; sleep 3; echo second >&2"], 1000);
        var r = await a.Client.ExecAsync(request);
        Assert.Null(r.Exit);
        Assert.False(r.StdoutEof || r.StderrEof);
        // Nothing handed out twice, nothing lost: Wait and ReadOutput go on from where the reply left off.
        Assert.Equal("first\n", r.Stdout.ToStringUtf8() + (await DrainAsync(a.Client, request.ExecId, OutputStream.Stdout)).Text);
        Assert.Equal("second\n", (await DrainAsync(a.Client, request.ExecId, OutputStream.Stderr)).Text);
        Assert.Equal(0, (await a.Client.WaitAsync(request.ExecId)).ExitCode);
    }

    [Fact]
    public async Task An_exec_that_waits_answers_once_a_stream_fills_its_share_of_the_reply()
    {
        await using var a = Start();
        var request = Waiting(["head", "-c", "300000", "/dev/zero"], 1000, maxOutputBytes: 1000);
        var r = await a.Client.ExecAsync(request);
        Assert.Equal(1000, r.Stdout.Length);
        Assert.False(r.StdoutEof);
        var (_, rest) = await DrainAsync(a.Client, request.ExecId, OutputStream.Stdout, keepText: false);
        Assert.Equal(299_000, rest);
        Assert.Equal(0, (await a.Client.WaitAsync(request.ExecId)).ExitCode);
    }

    [Fact]
    public async Task An_exec_may_not_wait_with_stdin_or_past_the_bound()
    {
        await using var a = Start();
        var stdin = Waiting(["cat"], 100);
        stdin.Stdin = true;
        await Assert.ThrowsAsync<ArgumentException>(() => a.Client.ExecAsync(stdin));
        var tooLong = Waiting(["true"], AgentClient.MaxExecWaitMs + 1);
        await Assert.ThrowsAsync<ArgumentException>(() => a.Client.ExecAsync(tooLong));
        // What the client refuses to send, the agent refuses too.
        if (a.RawClient is { } raw)
        {
            foreach (var request in new[] { stdin, tooLong })
            {
                var e = await Assert.ThrowsAsync<TtrpcException>(() => raw.CallAsync(AgentClient.ServiceName, "Exec", request, ExecResponse.Parser));
                Assert.Equal(StatusCode.InvalidArgument, e.Code);
            }
        }
    }

    [Fact]
    public async Task Stdin_RoundTripsThroughCat()
    {
        await using var a = Start();
        var id = await StartAsync(a.Client, ["cat"], stdin: true);
        var outTask = DrainAsync(a.Client, id, OutputStream.Stdout);
        await a.Client.WriteStdinAsync(id, "hello "u8.ToArray());
        await a.Client.WriteStdinAsync(id, "world"u8.ToArray(), close: true);
        Assert.Equal("hello world", (await outTask).Text);
        Assert.Equal(0, (await a.Client.WaitAsync(id)).ExitCode);
        var e = await Assert.ThrowsAsync<TtrpcException>(() => a.Client.WriteStdinAsync(id, "late"u8.ToArray()));
        Assert.Equal(StatusCode.FailedPrecondition, e.Code);
    }

    [Fact]
    public async Task Prepare_is_refused_without_a_workload_user_of_its_own()
    {
        // A prepared first stage becomes a user other than the agent's: an agent with no such user (this harness, a
        // microVM guest) has nothing to prepare with.
        await using var a = Start();
        var e = await Assert.ThrowsAsync<TtrpcException>(() => a.Client.PrepareAsync("p1"));
        Assert.Equal(StatusCode.FailedPrecondition, e.Code);
    }

    [Fact]
    public async Task A_prepared_exec_that_was_never_prepared_or_asks_for_a_terminal_is_refused()
    {
        await using var a = Start();
        var request = new ExecRequest { ExecId = "never-prepared", Prepared = true };
        request.Argv.Add("true");
        var missing = await Assert.ThrowsAsync<TtrpcException>(() => a.Client.ExecAsync(request));
        Assert.Equal(StatusCode.NotFound, missing.Code);
        request.Tty = new TtySize { Rows = 24, Cols = 80 };
        var tty = await Assert.ThrowsAsync<TtrpcException>(() => a.Client.ExecAsync(request));
        Assert.Equal(StatusCode.InvalidArgument, tty.Code);
    }

    [Fact]
    public async Task Stdin_IsDevNullWhenNotRequested()
    {
        await using var a = Start();
        var r = await RunAsync(a.Client, ["sh", "-c", "cat; echo done"]);
        Assert.Equal("done\n", r.Stdout);
        var id = await StartAsync(a.Client, ["true"]);
        var e = await Assert.ThrowsAsync<TtrpcException>(() => a.Client.WriteStdinAsync(id, "x"u8.ToArray()));
        Assert.Equal(StatusCode.FailedPrecondition, e.Code);
    }

    [Fact]
    public async Task Signal_TerminatesTheProcessGroup()
    {
        await using var a = Start();
        var id = await StartAsync(a.Client, ["sleep", "100"]);
        await a.Client.SignalAsync(id, 15);
        var w = await a.Client.WaitAsync(id).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(15, w.Signal);
        Assert.Equal(0, w.ExitCode);
        await a.Client.SignalAsync(id, 9); // already exited: fine

        // A shell's child is in the same group: SIGKILL to the group ends both, so stdout reaches EOF.
        var id2 = await StartAsync(a.Client, ["sh", "-c", "sleep 100 & echo started; wait; echo never"]);
        // "started" is printed after the child was forked: the group has two processes when the signal goes.
        Assert.Equal("started\n", (await a.Client.ReadOutputAsync(id2, OutputStream.Stdout)).Data.ToStringUtf8());
        await a.Client.SignalAsync(id2, 9);
        Assert.Equal(9, (await a.Client.WaitAsync(id2).WaitAsync(TimeSpan.FromSeconds(60))).Signal);
        Assert.Equal("", (await DrainAsync(a.Client, id2, OutputStream.Stdout).WaitAsync(TimeSpan.FromSeconds(60))).Text);
    }

    [Fact]
    public async Task LargeOutput_TenMegabytes()
    {
        await using var a = Start();
        var id = await StartAsync(a.Client, ["head", "-c", "10000000", "/dev/zero"]);
        var (_, bytes) = await DrainAsync(a.Client, id, OutputStream.Stdout, keepText: false, max: 300_000);
        Assert.Equal(10_000_000, bytes);
        Assert.Equal(0, (await a.Client.WaitAsync(id)).ExitCode);
    }

    [Fact]
    public async Task Output_IsBoundedAndBackPressuresTheProcess()
    {
        await using var a = Start();
        var request = new ExecRequest { ExecId = NewId() };
        request.Argv.AddRange(["head", "-c", "4000000", "/dev/zero"]);
        request.Env.AddRange(DefaultEnv);
        var pid = (await a.Client.ExecAsync(request)).Pid;
        var id = request.ExecId;
        var wait = a.Client.WaitAsync(id);
        // Nobody reads: the writer must end up blocked in write(2) having written about the agent's 1 MiB buffer plus
        // the pipe, never all 4 MB. The kernel has no event for "blocked in write", so /proc is polled (bounded).
        var written = await BlockedWriterAsync(pid, TimeSpan.FromSeconds(60));
        Assert.InRange(written, 1L << 20, 2L << 20);
        Assert.False(wait.IsCompleted, "the writer should be blocked: the agent buffers at most 1 MiB plus the pipe");
        var (_, bytes) = await DrainAsync(a.Client, id, OutputStream.Stdout, keepText: false);
        Assert.Equal(4_000_000, bytes);
        Assert.Equal(0, (await wait).ExitCode);
    }

    [Fact]
    public async Task EnvAndCwd_AreExactlyTheRequested()
    {
        await using var a = Start();
        var r = await RunAsync(a.Client, ["sh", "-c", "echo $FOO; pwd"], [new() { Name = "FOO", Value = "bar" }, DefaultEnv[0]], cwd: "/tmp");
        Assert.Equal("bar\n/tmp\n", r.Stdout);
        var env = await RunAsync(a.Client, ["env"], [new() { Name = "ONLY", Value = "1" }]); // no PATH: default PATH used for lookup
        Assert.Equal("ONLY=1\n", env.Stdout);
    }

    [Fact]
    public async Task MissingBinary_IsNotFoundNamingIt()
    {
        await using var a = Start();
        var e = await Assert.ThrowsAsync<TtrpcException>(() => StartAsync(a.Client, ["no-such-binary-xyz"]));
        Assert.Equal(StatusCode.NotFound, e.Code);
        Assert.Contains("no-such-binary-xyz", e.Message);
        var e2 = await Assert.ThrowsAsync<TtrpcException>(() => StartAsync(a.Client, ["/nonexistent/bin/tool"]));
        Assert.Equal(StatusCode.NotFound, e2.Code);
        Assert.Contains("/nonexistent/bin/tool", e2.Message);
        var e3 = await Assert.ThrowsAsync<TtrpcException>(() => StartAsync(a.Client, ["true"], cwd: "/nonexistent-dir"));
        Assert.Equal(StatusCode.FailedPrecondition, e3.Code);
    }

    [Fact]
    public async Task ExecIds_AreUniqueAndKnown()
    {
        await using var a = Start();
        var id = await StartAsync(a.Client, ["true"]);
        var request = new ExecRequest { ExecId = id };
        request.Argv.Add("true");
        var dup = await Assert.ThrowsAsync<TtrpcException>(() => a.Client.ExecAsync(request));
        Assert.Equal(StatusCode.AlreadyExists, dup.Code);
        var unknown = await Assert.ThrowsAsync<TtrpcException>(() => a.Client.WaitAsync("nope"));
        Assert.Equal(StatusCode.NotFound, unknown.Code);
    }

    [Fact]
    public async Task Files_WriteThenRead()
    {
        await using var a = Start();
        await a.Client.WriteFileAsync(new WriteFileRequest { Path = "/f.txt", Data = ByteString.CopyFromUtf8("hello world, long"), Truncate = true, Mode = 0x180 });
        await a.Client.WriteFileAsync(new WriteFileRequest { Path = "/f.txt", Offset = 6, Data = ByteString.CopyFromUtf8("there"), Truncate = true });
        Assert.Equal("hello there", File.ReadAllText(Path.Combine(a.Root, "f.txt")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(a.Root, "f.txt")));
        var r = await a.Client.ReadFileAsync(new ReadFileRequest { Path = "/f.txt", MaxBytes = 5 });
        Assert.Equal("hello", r.Data.ToStringUtf8());
        Assert.False(r.Eof);
        Assert.Equal(11, r.Size);
        var rest = await a.Client.ReadFileAsync(new ReadFileRequest { Path = "/f.txt", Offset = 5 });
        Assert.Equal(" there", rest.Data.ToStringUtf8());
        Assert.True(rest.Eof);

        var big = new byte[1 << 20];
        new Random(1).NextBytes(big);
        await a.Client.WriteFileAsync(new WriteFileRequest { Path = "/big", Data = ByteString.CopyFrom(big), Truncate = true });
        var back = await a.Client.ReadFileAsync(new ReadFileRequest { Path = "/big", MaxBytes = 1 << 20 });
        Assert.Equal(big, back.Data.ToByteArray());

        var missing = await Assert.ThrowsAsync<TtrpcException>(() => a.Client.ReadFileAsync(new ReadFileRequest { Path = "/missing" }));
        Assert.Equal(StatusCode.NotFound, missing.Code);
        Directory.CreateDirectory(Path.Combine(a.Root, "d"));
        var dir = await Assert.ThrowsAsync<TtrpcException>(() => a.Client.ReadFileAsync(new ReadFileRequest { Path = "/d" }));
        Assert.Equal(StatusCode.FailedPrecondition, dir.Code);
    }

    [Fact]
    public async Task ListDir_ReportsFilesDirsAndSymlinksWithoutFollowing()
    {
        await using var a = Start();
        var d = Path.Combine(a.Root, "d");
        Directory.CreateDirectory(Path.Combine(d, "sub"));
        File.WriteAllText(Path.Combine(d, "f.txt"), "hello");
        File.SetUnixFileMode(Path.Combine(d, "f.txt"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.CreateSymbolicLink(Path.Combine(d, "out"), "/etc/passwd"); // points outside (and would be resolved inside)
        File.CreateSymbolicLink(Path.Combine(d, "up"), "../../../../");

        var r = await a.Client.ListDirAsync(new ListDirRequest { Path = "/d" });
        Assert.False(r.Truncated);
        var byName = r.Entries.ToDictionary(e => e.Name);
        Assert.Equal(["f.txt", "out", "sub", "up"], byName.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(DirEntryType.File, byName["f.txt"].Type);
        Assert.Equal(5, byName["f.txt"].Size);
        Assert.Equal(0x180u, byName["f.txt"].Mode);
        Assert.False(byName["f.txt"].HasSymlinkTarget);
        Assert.InRange(byName["f.txt"].MtimeUnixNs, DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeMilliseconds() * 1_000_000L,
            DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeMilliseconds() * 1_000_000L);
        Assert.Equal(DirEntryType.Dir, byName["sub"].Type);
        Assert.Equal(DirEntryType.Symlink, byName["out"].Type);
        Assert.Equal("/etc/passwd", byName["out"].SymlinkTarget);
        Assert.Equal("/etc/passwd".Length, byName["out"].Size); // the link's own size, not the target's
        Assert.Equal(DirEntryType.Symlink, byName["up"].Type);
        Assert.Equal("../../../../", byName["up"].SymlinkTarget);

        // Listing through a symlink pointing outside stays inside the root: /d/up is the root itself.
        var viaLink = await a.Client.ListDirAsync(new ListDirRequest { Path = "/d/up" });
        Assert.Equal(["d"], viaLink.Entries.Select(e => e.Name));

        // Bounded: max_entries, then truncated.
        var two = await a.Client.ListDirAsync(new ListDirRequest { Path = "/d", MaxEntries = 2 });
        Assert.Equal(2, two.Entries.Count);
        Assert.True(two.Truncated);
        var four = await a.Client.ListDirAsync(new ListDirRequest { Path = "/d", MaxEntries = 4 });
        Assert.Equal(4, four.Entries.Count);
        Assert.False(four.Truncated);

        var missing = await Assert.ThrowsAsync<TtrpcException>(() => a.Client.ListDirAsync(new ListDirRequest { Path = "/nope" }));
        Assert.Equal(StatusCode.NotFound, missing.Code);
        var notDir = await Assert.ThrowsAsync<TtrpcException>(() => a.Client.ListDirAsync(new ListDirRequest { Path = "/d/f.txt" }));
        Assert.Equal(StatusCode.NotFound, notDir.Code);
        await Assert.ThrowsAsync<ArgumentException>(() => a.Client.ListDirAsync(new ListDirRequest { Path = "d" }));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => a.Client.ListDirAsync(new ListDirRequest { Path = "/d", MaxEntries = 10001 }));
        if (a.RawClient is { } raw)
        {
            var tooMany = await Assert.ThrowsAsync<TtrpcException>(() =>
                raw.CallAsync(AgentClient.ServiceName, "ListDir", new ListDirRequest { Path = "/d", MaxEntries = 10001 }, ListDirResponse.Parser, CancellationToken.None));
            Assert.Equal(StatusCode.InvalidArgument, tooMany.Code);
        }
    }

    [Fact]
    public async Task Files_PathsCannotEscapeTheRoot()
    {
        await using var a = Start();
        Directory.CreateDirectory(Path.Combine(a.Root, "etc"));
        await a.Client.WriteFileAsync(new WriteFileRequest { Path = "/../../etc/x", Data = ByteString.CopyFromUtf8("inside"), Truncate = true });
        Assert.Equal("inside", File.ReadAllText(Path.Combine(a.Root, "etc", "x")));
        Assert.False(File.Exists("/etc/x") && File.ReadAllText("/etc/x") == "inside");

        // An absolute symlink is resolved inside the root: /link -> /etc/passwd means <root>/etc/passwd.
        File.CreateSymbolicLink(Path.Combine(a.Root, "link"), "/etc/passwd");
        var e = await Assert.ThrowsAsync<TtrpcException>(() => a.Client.ReadFileAsync(new ReadFileRequest { Path = "/link" }));
        Assert.Equal(StatusCode.NotFound, e.Code);
        File.WriteAllText(Path.Combine(a.Root, "etc", "passwd"), "fake");
        Assert.Equal("fake", (await a.Client.ReadFileAsync(new ReadFileRequest { Path = "/link" })).Data.ToStringUtf8());
        Assert.Equal("fake", (await a.Client.ReadFileAsync(new ReadFileRequest { Path = "/../../../etc/passwd" })).Data.ToStringUtf8());

        // Writing through a symlink (last component) is refused; the target is untouched.
        var w = await Assert.ThrowsAsync<TtrpcException>(() =>
            a.Client.WriteFileAsync(new WriteFileRequest { Path = "/link", Data = ByteString.CopyFromUtf8("x"), Truncate = true }));
        Assert.Equal(StatusCode.FailedPrecondition, w.Code);
        Assert.Equal("fake", File.ReadAllText(Path.Combine(a.Root, "etc", "passwd")));

        // A directory symlink pointing outside stays inside too.
        File.CreateSymbolicLink(Path.Combine(a.Root, "up"), "../../../../");
        await a.Client.WriteFileAsync(new WriteFileRequest { Path = "/up/etc/y", Data = ByteString.CopyFromUtf8("y"), Truncate = true });
        Assert.Equal("y", File.ReadAllText(Path.Combine(a.Root, "etc", "y")));

        // Magic links (/proc/self/root) are refused.
        var m = await Assert.ThrowsAnyAsync<TtrpcException>(() => a.Client.ReadFileAsync(new ReadFileRequest { Path = "/proc/self/root/etc/passwd" }));
        Assert.NotEqual(StatusCode.OK, m.Code);

        // The client refuses relative paths, NUL and overlong paths before sending.
        await Assert.ThrowsAsync<ArgumentException>(() => a.Client.ReadFileAsync(new ReadFileRequest { Path = "../../etc/x" }));
        await Assert.ThrowsAsync<ArgumentException>(() => a.Client.ReadFileAsync(new ReadFileRequest { Path = "/a\0b" }));
        await Assert.ThrowsAsync<ArgumentException>(() => a.Client.ReadFileAsync(new ReadFileRequest { Path = "/" + new string('a', 4096) }));

        // So does the agent, when a raw client sends them anyway.
        if (a.RawClient is { } raw)
        {
            foreach (var path in new[] { "../../etc/x", "etc/passwd", "/a\0b", "/" + new string('a', 4096), "" })
            {
                var ex = await Assert.ThrowsAsync<TtrpcException>(() => raw.CallAsync(AgentClient.ServiceName, "ReadFile",
                    new ReadFileRequest { Path = path }, ReadFileResponse.Parser));
                Assert.Equal(StatusCode.InvalidArgument, ex.Code);
            }
        }
    }

    [Fact]
    public async Task TwentyConcurrentExecs()
    {
        await using var a = Start();
        var runs = Enumerable.Range(0, 20).Select(i => RunAsync(a.Client, ["sh", "-c", $"sleep 0.2; echo run{i}; exit {i}"])).ToArray();
        var results = await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(120));
        for (int i = 0; i < 20; i++)
        {
            Assert.Equal($"run{i}\n", results[i].Stdout);
            Assert.Equal(i, results[i].Wait.ExitCode);
        }
        var stats = await a.Client.StatsAsync();
        Assert.Equal(0, stats.Processes);
        Assert.True(stats.MemoryRssKib > 0);
    }

    [Fact]
    public async Task Wait_ReturnsOnExitEvenWhileAGrandchildHoldsStdout()
    {
        await using var a = Start();
        // The grandchild holds stdout for 100 s; the wait must return long before (bound: 60 s).
        var id = await StartAsync(a.Client, ["sh", "-c", "sleep 100 & echo $!"]);
        var w = await a.Client.WaitAsync(id).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(0, w.ExitCode);
        var first = await a.Client.ReadOutputAsync(id, OutputStream.Stdout);
        var grandchild = int.Parse(first.Data.ToStringUtf8().Trim());
        // Once the grandchild is gone, stdout reaches EOF.
        System.Diagnostics.Process.GetProcessById(grandchild).Kill();
        Assert.Equal("", (await DrainAsync(a.Client, id, OutputStream.Stdout).WaitAsync(TimeSpan.FromSeconds(60))).Text);
    }

    [Fact]
    public async Task Stats_CountsLiveProcesses()
    {
        await using var a = Start();
        var id = await StartAsync(a.Client, ["sleep", "100"]);
        Assert.Equal(1, (await a.Client.StatsAsync()).Processes);
        await a.Client.SignalAsync(id, 9);
        await a.Client.WaitAsync(id);
        Assert.Equal(0, (await a.Client.StatsAsync()).Processes);
    }
}

public sealed class InProcessAgentTests : AgentBehaviourTests
{
    protected override AgentHarness Start() => new InProcessAgent();
}

public sealed class OutOfProcessAgentTests : AgentBehaviourTests
{
    protected override AgentHarness Start() => new OutOfProcessAgent();

    [Fact]
    public async Task Shutdown_KillsProcessesAndExits()
    {
        var a = new OutOfProcessAgent();
        var request = new ExecRequest { ExecId = "long" };
        request.Argv.AddRange(["sleep", "100"]);
        await a.Client.ExecAsync(request);
        var wait = a.Client.WaitAsync("long");
        await a.Client.ShutdownAsync();
        await a.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(0, a.Process.ExitCode);
        // Either the Wait answer (SIGKILL) arrived before the agent exited, or the connection closed.
        try
        {
            Assert.Equal(9, (await wait.WaitAsync(TimeSpan.FromSeconds(60))).Signal);
        }
        catch (TtrpcException e)
        {
            Assert.Equal(StatusCode.Unavailable, e.Code);
        }
        await a.DisposeAsync();
    }

    [Fact]
    public async Task PeerClose_KillsProcessesAndExits()
    {
        var a = new OutOfProcessAgent();
        var request = new ExecRequest { ExecId = "orphan", Stdin = true };
        request.Argv.AddRange(["sleep", "100"]);
        // The out-of-process agent runs in the host's pid namespace: the pid it reports is the host pid.
        var pid = (await a.Client.ExecAsync(request)).Pid;
        using var probe = new ProcessExitProbe(pid);
        string root = a.Root;
        await a.DisposeAsync(); // closes the connection; waits for the agent to exit
        // sleep would run 100 s on its own; it must end (be killed) well before.
        Assert.True(await probe.ExitedWithinAsync(TimeSpan.FromSeconds(60)), "sleep survived the agent");
        Assert.False(Directory.Exists(root));
    }
}
