namespace Sandbox.Shim.Tests;

/// <summary>`ctr run --rm --rootfs DIR` through the shim on the container tier: exit codes, stdout and stderr, stdin
/// EOF, a real terminal, a spec field the engine cannot honour, and nothing left behind.</summary>
[Collection(ContainerdCollection.Name)]
public sealed class CtrRunTests(ContainerdFixture fixture)
{
    /// <summary>`--label` becomes a spec annotation: declares the code trusted, so the default policy runs it in a container.</summary>
    public static readonly string[] ContainerTier = ["--label", "io.sandbox.trusted=true", "--label", "io.sandbox.tier=container"];

    private Task<CommandRunner.Result> RunAsync(string id, string[] extra, string[] command, string? stdin = null) =>
        fixture.CtrAsync(new[] { "run", "--rm", "--runtime", ContainerdFixture.Runtime }.Concat(ContainerTier).Concat(extra)
            .Concat(["--rootfs", fixture.Rootfs, id]).Concat(command), stdin);

    [ShimFact]
    public async Task RunRm_ReportsExitCodeStdoutAndStderr()
    {
        var result = await RunAsync("run-exit", [], ["/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"]);
        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Equal("to-stdout\n", result.Stdout);
        Assert.Equal("to-stderr\n", result.Stderr);
        await AssertNothingLeftAsync("run-exit");
    }

    [ShimFact]
    public async Task RunRm_SignalledProcess_Reports128PlusSignal()
    {
        var result = await RunAsync("run-signal", [], ["/bin/sh", "-c", "kill -TERM $$"]);
        Assert.True(result.ExitCode == 143, result.ToString());
    }

    [ShimFact]
    public async Task Stdin_EndOfInput_EndsTheProcess()
    {
        var result = await RunAsync("run-stdin", [], ["/bin/cat"], stdin: "hello-stdin\n");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("hello-stdin\n", result.Stdout);
    }

    [ShimFact]
    public async Task Terminal_GivesTheProcessARealPty()
    {
        // ctr -t needs a terminal of its own: script(1) gives it one.
        var ctr = string.Join(' ', new[] { "/usr/bin/ctr", "--address", fixture.Socket, "-n", ContainerdFixture.Namespace, "run", "-t", "--rm",
            "--runtime", ContainerdFixture.Runtime }.Concat(ContainerTier).Concat(["--rootfs", fixture.Rootfs, "run-tty", "/bin/sh", "-c", "'tty; test -t 0 && echo stdin-is-a-tty'"]));
        var result = await CommandRunner.RunAsync("/usr/bin/script", ["-qec", ctr, "/dev/null"], timeout: TimeSpan.FromSeconds(60));
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Matches(@"/dev/pts/\d+", result.Stdout);
        Assert.Contains("stdin-is-a-tty", result.Stdout);
    }

    [ShimFact]
    public async Task UnsupportedSpecField_IsAnErrorNamingIt()
    {
        var result = await RunAsync("run-ramfs", ["--mount", "type=ramfs,src=ramfs,dst=/scratch"], ["/bin/true"]);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("mounts[", result.Stderr);
        Assert.Contains("/scratch", result.Stderr);
        await AssertNothingLeftAsync("run-ramfs");
    }

    private async Task AssertNothingLeftAsync(string id)
    {
        var containers = await fixture.CtrAsync(["container", "ls", "-q"]);
        Assert.DoesNotContain(id, containers.Stdout.Split('\n'));
        Assert.False(Directory.Exists($"/run/sandbox-shim/{ContainerdFixture.Namespace}/{id}"), $"state of {id} left behind");
        // The shim exits right after answering Shutdown; ctr may return first.
        Assert.Empty(ProcessExit.StillAliveAfter(fixture.LiveShims(), TimeSpan.FromSeconds(60)));
    }
}
