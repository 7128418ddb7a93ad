using System.Text;
using Sandbox.Isolation;

namespace Sandbox.E2E;

/// <summary>Long-lived sandboxes: many execs, concurrency, the file API and its confinement, what the host sees,
/// and teardown.</summary>
public sealed class SandboxTests
{
    private static ISandboxDriver Driver => Harness.Driver;

    private static async Task<(ExitStatus Status, string Stdout)> Exec(ISandbox sandbox, params string[] argv)
    {
        var stdout = new MemoryStream();
        var p = await sandbox.ExecAsync(new ProcessSpec { Argv = argv }, new ProcessIO { Stdout = stdout }, CancellationToken.None);
        var status = await p.WaitAsync(CancellationToken.None);
        return (status, Encoding.UTF8.GetString(stdout.ToArray()));
    }

    [Fact]
    public async Task Many_execs_share_one_sandbox()
    {
        await using var sandbox = await Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        await Exec(sandbox, "sh", "-c", "echo one > /work/state");
        var (_, out2) = await Exec(sandbox, "cat", "/work/state");
        Assert.Equal("one\n", out2);
    }

    [Fact]
    public async Task Concurrent_execs_each_get_their_own_output()
    {
        await using var sandbox = await Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        var runs = Enumerable.Range(0, 20).Select(i => Exec(sandbox, "sh", "-c", $"sleep 0.$((RANDOM % 3)); echo {i}")).ToArray();
        var results = await Task.WhenAll(runs);
        for (var i = 0; i < results.Length; i++)
        {
            Assert.Equal(0, results[i].Status.ExitCode);
            Assert.Equal($"{i}\n", results[i].Stdout);
        }
    }

    [Fact]
    public async Task Signal_reaches_a_running_process()
    {
        await using var sandbox = await Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        var p = await sandbox.ExecAsync(new ProcessSpec { Argv = ["sleep", "60"] }, ProcessIO.Discard, CancellationToken.None);
        await p.SignalAsync(2, CancellationToken.None);
        var status = await p.WaitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(2, status.Signal);
        Assert.Equal(130, status.ExitCode);
    }

    [Fact]
    public async Task Files_written_by_the_host_are_read_by_the_process_and_back()
    {
        await using var sandbox = await Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        var content = new byte[3 << 20];
        Random.Shared.NextBytes(content);
        await sandbox.WriteFileAsync("/work/in.bin", content, 0b110_100_100, CancellationToken.None);
        var (_, sum) = await Exec(sandbox, "sha256sum", "/work/in.bin");
        Assert.StartsWith(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(content)), sum);
        await Exec(sandbox, "sh", "-c", "printf made-inside > /tmp/out.txt");
        Assert.Equal("made-inside"u8.ToArray(), await sandbox.ReadFileAsync("/tmp/out.txt", 1 << 20, CancellationToken.None));
    }

    [Fact]
    public async Task Directory_listing_shows_what_the_process_created()
    {
        await using var sandbox = await Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        await sandbox.WriteFileAsync("/work/from-host.txt", "abc"u8.ToArray(), 0b110_100_100, CancellationToken.None);
        var (status, _) = await Exec(sandbox, "sh", "-c", "mkdir /work/sub && printf 12345 > /work/sub/../b.txt && ln -s /etc/passwd /work/link");
        Assert.Equal(0, status.ExitCode);

        var listing = await sandbox.ListFilesAsync("/work", 100, CancellationToken.None);
        Assert.False(listing.Truncated);
        Assert.Equal(["b.txt", "from-host.txt", "link", "sub"], listing.Entries.Select(e => e.Name)); // sorted by name
        var byName = listing.Entries.ToDictionary(e => e.Name);
        Assert.Equal(SandboxFileKind.File, byName["b.txt"].Kind);
        Assert.Equal(5, byName["b.txt"].Size);
        Assert.Equal(SandboxFileKind.File, byName["from-host.txt"].Kind);
        Assert.Equal(0b110_100_100, byName["from-host.txt"].Mode);
        Assert.Equal(SandboxFileKind.Directory, byName["sub"].Kind);
        Assert.Equal(SandboxFileKind.Symlink, byName["link"].Kind); // listed, not followed
        Assert.Equal("/etc/passwd", byName["link"].SymlinkTarget);

        var one = await sandbox.ListFilesAsync("/work", 1, CancellationToken.None);
        Assert.Single(one.Entries);
        Assert.True(one.Truncated);

        var missing = await Assert.ThrowsAsync<SandboxException>(() => sandbox.ListFilesAsync("/work/nope", 100, CancellationToken.None));
        Assert.Equal(SandboxErrorCode.NotFound, missing.Code);
        await Assert.ThrowsAsync<SpecValidationException>(() => sandbox.ListFilesAsync("/work/../etc", 100, CancellationToken.None));
    }

    [Fact]
    public async Task File_read_limit_is_enforced()
    {
        await using var sandbox = await Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        await Exec(sandbox, "sh", "-c", "head -c 100000 /dev/zero > /work/big");
        var e = await Assert.ThrowsAsync<SandboxException>(() => sandbox.ReadFileAsync("/work/big", 1000, CancellationToken.None));
        Assert.Equal(SandboxErrorCode.ResourceExhausted, e.Code);
    }

    [Theory]
    [InlineData("/work/../etc/passwd")]
    [InlineData("relative/path")]
    [InlineData("")]
    public async Task File_paths_with_dotdot_or_relative_are_rejected(string path)
    {
        await using var sandbox = await Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        await Assert.ThrowsAsync<SpecValidationException>(() => sandbox.WriteFileAsync(path, "x"u8.ToArray(), 420, CancellationToken.None));
        await Assert.ThrowsAsync<SpecValidationException>(() => sandbox.ReadFileAsync(path, 100, CancellationToken.None));
    }

    [Fact]
    public async Task Symlinks_planted_by_sandboxed_code_do_not_reach_the_host()
    {
        var hostFile = Path.Combine("/var/tmp", "sandbox-symlink-target-" + Guid.NewGuid().ToString("N"));
        File.WriteAllText(hostFile, "host-original");
        try
        {
            await using var sandbox = await Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
            // Absolute and relative links to places outside the writable area, and to the host path itself.
            await Exec(sandbox, "sh", "-c",
                $"ln -s {hostFile} /work/abs; ln -s ../../../../..{hostFile} /work/rel; ln -s /etc/passwd /work/passwd; ln -s / /work/root");
            foreach (var link in new[] { "/work/abs", "/work/rel", "/work/passwd", "/work/root/etc/passwd" })
            {
                try
                {
                    await sandbox.WriteFileAsync(link, "pwned"u8.ToArray(), 420, CancellationToken.None);
                }
                catch (SandboxException)
                {
                    // Refused: fine. Accepted: it must have landed inside the sandbox (checked below).
                }
            }
            Assert.Equal("host-original", File.ReadAllText(hostFile));
            Assert.DoesNotContain("pwned", File.ReadAllText("/etc/passwd"));

            // Reads through the same links see the sandbox's own view, never the host file.
            foreach (var link in new[] { "/work/abs", "/work/rel" })
            {
                try
                {
                    var data = await sandbox.ReadFileAsync(link, 1 << 20, CancellationToken.None);
                    Assert.NotEqual("host-original", Encoding.UTF8.GetString(data));
                }
                catch (SandboxException)
                {
                }
            }
        }
        finally
        {
            File.Delete(hostFile);
        }
    }

    [Fact]
    public async Task Symlink_swapped_during_writes_never_escapes()
    {
        var hostDir = Directory.CreateTempSubdirectory("sandbox-race-");
        var hostFile = Path.Combine(hostDir.FullName, "target");
        File.WriteAllText(hostFile, "host-original");
        try
        {
            await using var sandbox = await Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
            // Inside: flip /work/d between a real directory and a link to the host dir's path, as fast as it can.
            var flipper = await sandbox.ExecAsync(Harness.Sh(
                $"mkdir -p /work/real; end=$(($(date +%s)+3)); while [ $(date +%s) -lt $end ]; do rm -rf /work/d; mkdir /work/d; rm -rf /work/d; ln -s {hostDir.FullName} /work/d; done"),
                ProcessIO.Discard, CancellationToken.None);
            var deadline = DateTime.UtcNow.AddSeconds(3);
            while (DateTime.UtcNow < deadline)
            {
                try
                {
                    await sandbox.WriteFileAsync("/work/d/target", "pwned"u8.ToArray(), 420, CancellationToken.None);
                }
                catch (SandboxException)
                {
                }
            }
            await flipper.WaitAsync(CancellationToken.None);
            Assert.Equal("host-original", File.ReadAllText(hostFile));
        }
        finally
        {
            hostDir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task The_host_sees_an_unprivileged_confined_process()
    {
        await using var sandbox = await Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        var p = await sandbox.ExecAsync(new ProcessSpec { Argv = ["sleep", "30"] }, ProcessIO.Discard, CancellationToken.None);
        var hostPid = await FindHostPidAsync(sandbox.Info.CgroupPath!, "sleep");
        var status = File.ReadAllLines($"/proc/{hostPid}/status").ToDictionary(l => l.Split(':')[0], l => l.Split(':', 2)[1].Trim());
        var uids = status["Uid"].Split('\t', StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToArray();
        // uid 1000 of the sandbox's own range: every id of the process (real, effective, saved, fs) is that one.
        var range = sandbox.Info.HostUidRange!.Value;
        Assert.All(uids, uid => Assert.Equal(range.HostBase + 1000, uid));
        Assert.Equal(sandbox.Info.HostUid, range.HostBase + 1000);
        Assert.True(range.HostBase >= 100_000, $"range {range} must be unprivileged, unassigned uids");
        Assert.All(status["Gid"].Split('\t', StringSplitOptions.RemoveEmptyEntries).Select(long.Parse), gid => Assert.Equal(range.HostBase + 1000, gid));
        Assert.Equal("0000000000000000", status["CapEff"]);
        Assert.Equal("0000000000000000", status["CapPrm"]);
        Assert.Equal("1", status["NoNewPrivs"]);
        Assert.Equal("2", status["Seccomp"]);
        await p.SignalAsync(9, CancellationToken.None);
        await p.WaitAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Stats_report_the_cgroup()
    {
        await using var sandbox = await Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        var stats = await sandbox.GetStatsAsync(CancellationToken.None);
        Assert.True(stats.MemoryBytes > 0);
        Assert.InRange(stats.Tasks, 1, 20);
        Assert.Equal(64, sandbox.Info.SeccompDigest.Length);
        Assert.Contains("user", sandbox.Info.Namespaces);
    }

    internal static async Task<int> FindHostPidAsync(string memoryCgroup, string comm)
    {
        // A bounded poll of the cgroup's task list (the kernel has no event for "this process appeared"); generous, since
        // the host is shared.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            foreach (var pid in CgroupTree.Procs(memoryCgroup))
            {
                if (HostProcess.Comm(pid) == comm)
                    return pid;
            }
            await Task.Delay(50);
        }
        throw new InvalidOperationException($"no '{comm}' in {memoryCgroup}");
    }
}
