namespace Sandbox.Shim.Tests;

/// <summary>OCI spec fields users hit, through the real containerd: bind mounts (read-only honoured, no symlink can
/// redirect a source or a destination, a `--rootfs DIR` never changed), linux.seccomp (narrows the policy's filter),
/// and `binary://` log URIs (the logging program started as containerd's runc shim starts it).</summary>
[Collection(ContainerdCollection.Name)]
public sealed class SpecFieldTests(ContainerdFixture fixture)
{
    private Task<CommandRunner.Result> RunAsync(string id, string[] extra, string root, string[] command) =>
        fixture.CtrAsync(new[] { "run", "--rm", "--runtime", ContainerdFixture.Runtime }.Concat(CtrRunTests.ContainerTier).Concat(extra)
            .Concat(root == ContainerdFixture.Image ? [root, id] : ["--rootfs", root, id]).Concat(command));

    private string HostDir(string name)
    {
        var dir = Path.Combine(fixture.Dir, name);
        Directory.CreateDirectory(dir);
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
        File.WriteAllText(Path.Combine(dir, "hello"), "hello-bind\n");
        return dir;
    }

    [ShimFact]
    public async Task BindMount_ReadOnly_IntoAnImage_IsSeenAndNotWritable()
    {
        var dir = HostDir("bind-ro");
        var result = await RunAsync("bind-ro", ["--mount", $"type=bind,src={dir},dst=/data/in,options=rbind:ro"], ContainerdFixture.Image,
            ["/bin/sh", "-c", "cat /data/in/hello; touch /data/in/x 2>/dev/null && echo wrote || echo refused"]);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("hello-bind\nrefused\n", result.Stdout);
        Assert.False(File.Exists(Path.Combine(dir, "x")));
        await AssertNothingLeftAsync("bind-ro", dir);
    }

    [ShimFact]
    public async Task BindMount_IntoRootfsDir_UsesAViewAndLeavesTheDirAlone()
    {
        var dir = HostDir("bind-view");
        var result = await RunAsync("bind-view", ["--mount", $"type=bind,src={dir},dst=/root,options=rbind:ro"], fixture.Rootfs,
            ["/bin/cat", "/root/hello"]);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("hello-bind\n", result.Stdout);
        Assert.False(File.Exists(Path.Combine(fixture.Rootfs, "root/hello")), "the bind landed in the --rootfs directory itself");
        await AssertNothingLeftAsync("bind-view", dir);
    }

    [ShimFact]
    public async Task BindMount_SourceThroughASymlink_IsRefusedNamingIt()
    {
        var dir = HostDir("bind-link-target");
        var link = Path.Combine(fixture.Dir, "bind-link");
        if (!File.Exists(link) && !Directory.Exists(link))
            File.CreateSymbolicLink(link, dir);
        var result = await RunAsync("bind-link", ["--mount", $"type=bind,src={link},dst=/data,options=rbind:ro"], ContainerdFixture.Image, ["/bin/true"]);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("symlink", result.Stderr);
        Assert.Contains(link, result.Stderr);
        await AssertNothingLeftAsync("bind-link", dir);
    }

    [ShimFact]
    public async Task BindMount_DestinationSymlinkOutOfTheRoot_StaysInsideTheRoot()
    {
        // A root whose /escape is an absolute symlink to a host directory: resolved in the root it names nothing
        // there, so the bind is refused and the host directory is never mounted over.
        var root = Path.Combine(fixture.Dir, "evil-root");
        BusyboxRootfs.Build(root);
        var victim = HostDir("victim");
        var escape = Path.Combine(root, "escape");
        if (!File.Exists(escape) && !Directory.Exists(escape))
            File.CreateSymbolicLink(escape, victim);
        var source = HostDir("bind-src");
        var result = await RunAsync("bind-escape", ["--mount", $"type=bind,src={source},dst=/escape,options=rbind:ro"], root, ["/bin/true"]);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("does not exist in the root", result.Stderr);
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Split(' ')[4] == victim);
        await AssertNothingLeftAsync("bind-escape", victim);
    }

    [ShimFact]
    public async Task RuntimeOptions_WithAConfigPath_AreRefusedNamingIt()
    {
        var result = await RunAsync("config-path", ["--runtime-config-path", "/etc/sandbox-shim.toml"], fixture.Rootfs, ["/bin/true"]);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("runtime option config_path '/etc/sandbox-shim.toml' is not supported", result.Stderr);
        await AssertNothingLeftAsync("config-path", null);
    }

    [ShimFact]
    public async Task Seccomp_FromTheBundle_NarrowsThePolicysFilter()
    {
        // A profile that allows everything but symlinks: ours allows them, so only the bundle's can refuse.
        var profile = Path.Combine(fixture.Dir, "no-symlinks.json");
        File.WriteAllText(profile, """
            {"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
             "syscalls":[{"names":["symlink","symlinkat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}
            """);
        var command = new[] { "/bin/sh", "-c", "ln -s /bin /tmp/l && echo linked" };
        var plain = await RunAsync("seccomp-plain", [], fixture.Rootfs, command);
        Assert.True(plain.ExitCode == 0 && plain.Stdout == "linked\n", "the policy's own filter allows symlinks: " + plain);
        var narrowed = await RunAsync("seccomp-narrow", ["--seccomp", "--seccomp-profile", profile], fixture.Rootfs, command);
        Assert.NotEqual(0, narrowed.ExitCode);
        Assert.Contains("Operation not permitted", narrowed.Stderr);
        // containerd's own default profile (ctr --seccomp) narrows ours too and still runs a shell.
        var runtimeDefault = await RunAsync("seccomp-default", ["--seccomp"], fixture.Rootfs, ["/bin/sh", "-c", "echo under-both"]);
        Assert.True(runtimeDefault.ExitCode == 0 && runtimeDefault.Stdout == "under-both\n", runtimeDefault.ToString());
        await AssertNothingLeftAsync("seccomp-default", null);
    }

    [ShimFact]
    public async Task BinaryLogUri_StartsTheLoggerWithFds345AndItsEnvironment()
    {
        var logs = HostDir("logger-out");
        var logger = Path.Combine(fixture.Dir, "logger.sh");
        // Ready on fd 5 (closing it), stdout from fd 3, stderr from fd 4; TERM is ignored so it ends at EOF, after
        // writing everything.
        File.WriteAllText(logger, """
            #!/bin/sh
            trap '' TERM
            echo "$CONTAINER_ID $CONTAINER_NAMESPACE $*" > "$2/env"
            exec 5>&-
            cat <&3 > "$2/stdout" &
            cat <&4 > "$2/stderr" &
            wait
            """);
        File.SetUnixFileMode(logger, (UnixFileMode)0b111_101_101);
        var result = await RunAsync("binlog", ["--log-uri", $"binary://{logger}?dir={logs}"], fixture.Rootfs,
            ["/bin/sh", "-c", "echo to-out; echo to-err >&2"]);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal($"binlog {ContainerdFixture.Namespace} dir {logs}\n", File.ReadAllText(Path.Combine(logs, "env")));
        Assert.Equal("to-out\n", File.ReadAllText(Path.Combine(logs, "stdout")));
        Assert.Equal("to-err\n", File.ReadAllText(Path.Combine(logs, "stderr")));
        await AssertNothingLeftAsync("binlog", null);
        Assert.DoesNotContain(Directory.EnumerateDirectories("/proc"), d => IsProcessOf(d, logger));
    }

    private static bool IsProcessOf(string procDir, string program)
    {
        try
        {
            return File.ReadAllText(Path.Combine(procDir, "cmdline")).Contains(program, StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }

    private async Task AssertNothingLeftAsync(string id, string? hostDir)
    {
        var containers = await fixture.CtrAsync(["container", "ls", "-q"]);
        Assert.DoesNotContain(id, containers.Stdout.Split('\n'));
        Assert.False(Directory.Exists($"/run/sandbox-shim/{ContainerdFixture.Namespace}/{id}"), $"state of {id} left behind");
        var mounts = File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4]).ToList();
        Assert.DoesNotContain(mounts, m => m.Contains($"/{id}/", StringComparison.Ordinal) || m.EndsWith($"/{id}", StringComparison.Ordinal));
        if (hostDir is not null)
            Assert.DoesNotContain(hostDir, mounts);
        Assert.Empty(ProcessExit.StillAliveAfter(fixture.LiveShims(), TimeSpan.FromSeconds(60)));
    }
}
