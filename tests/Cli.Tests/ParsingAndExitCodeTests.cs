namespace Sandbox.Cli.Tests;

/// <summary>Docker's argument rule, and exit codes a script can rely on (README, "Exit codes").</summary>
[Collection("cli")]
public sealed class ParsingAndExitCodeTests(CliFixture f)
{
    [Fact]
    public async Task Flags_end_at_the_program_so_its_own_flags_reach_it()
    {
        var r = await CliProcess.RunAsync(f.Socket, "run", "--trusted", "sh", "-c", "echo \"$@\"", "sh", "-e", "x", "-h", "--bogus", "-m", "1");
        Assert.Equal((0, "-e x -h --bogus -m 1\n"), (r.ExitCode, r.Stdout));
        r = await CliProcess.RunAsync(f.Socket, "run", "--trusted", "grep", "-e", "x", "-c", "/dev/null");
        Assert.Equal(("0\n", 1), (r.Stdout, r.ExitCode)); // grep's own -e and -c; no match: grep's exit 1
        r = await CliProcess.RunAsync(f.Socket, "run", "--trusted", "sort", "-r", "-", "--", "-");
        Assert.Equal(0, r.ExitCode);
    }

    [Fact]
    public async Task Help_is_shown_wherever_it_is_asked_for_before_the_program()
    {
        // A parse without help options comes first (CommandTable.TryParseLean); each of these must still be help.
        foreach (var args in new[] { new[] { "run", "-h" }, ["run", "--trusted", "--help"], ["exec", "sb-x", "-h"], ["ps", "--help"], ["rm", "/h"], ["ps", "-?"] })
        {
            var r = await CliProcess.RunAsync(f.Socket, args);
            Assert.True(r.ExitCode == 0 && r.Stdout.Contains("Usage:", StringComparison.Ordinal), $"{string.Join(' ', args)}: exit {r.ExitCode}, {r.Stdout}{r.Stderr}");
            Assert.Contains($"sandbox {args[0]}", r.Stdout);
        }
        // After the program, a help flag is the program's.
        var own = await CliProcess.RunAsync(f.Socket, "run", "--trusted", "sh", "-c", "echo \"$1\"", "sh", "--help");
        Assert.Equal((0, "--help\n"), (own.ExitCode, own.Stdout));
    }

    [Fact]
    public async Task Unknown_flags_and_malformed_values_are_usage_errors()
    {
        foreach (var args in new[]
        {
            new[] { "run", "--bogus", "echo" }, ["run", "-m", "4k", "echo"], ["run", "-m", "1024", "echo"], ["run", "--disk", "1k", "echo"],
            ["run", "--cpus", "abc", "echo"], ["ps", "-f", "bad"], ["--nope"], ["run", "-iz", "echo"], ["ps", "--format", "yaml"],
        })
        {
            var r = await CliProcess.RunAsync(f.Socket, args);
            Assert.True(r.ExitCode == ExitCodes.Usage, $"{string.Join(' ', args)}: exit {r.ExitCode}, {r.Stderr}");
            Assert.StartsWith("sandbox: ", r.Stderr);
        }
        var m = await CliProcess.RunAsync(f.Socket, "run", "-m", "1024", "echo");
        Assert.Contains("1024 bytes, not a whole number of MiB", m.Stderr);
    }

    [Fact]
    public async Task Exit_codes_say_what_went_wrong()
    {
        Assert.Equal(ExitCodes.NotFound, (await CliProcess.RunAsync(f.Socket, "run", "--trusted", "no-such-program")).ExitCode);
        Assert.Equal(ExitCodes.NotExecutable, (await CliProcess.RunAsync(f.Socket, "run", "--trusted", "/etc/hostname")).ExitCode);
        Assert.Equal(ExitCodes.SandboxNotFound, (await CliProcess.RunAsync(f.Socket, "exec", "sb-missing", "true")).ExitCode);
        var unreachable = await CliProcess.RunAsync("/nonexistent/sandboxd.sock", "ps");
        Assert.Equal(ExitCodes.DaemonUnreachable, unreachable.ExitCode);
        Assert.Contains("cannot reach sandboxd at /nonexistent/sandboxd.sock (no socket there)", unreachable.Stderr);
        Assert.Equal(7, (await CliProcess.RunAsync(f.Socket, "run", "--trusted", "sh", "-c", "exit 7")).ExitCode);
        // A missing image is not a missing sandbox (66): the create failed, as docker's 125.
        var image = await CliProcess.RunAsync(f.Socket, "create", "--trusted", "--image", "no-such-image:1");
        Assert.Equal(ExitCodes.SandboxError, image.ExitCode);
        Assert.Contains("image 'no-such-image:1' is not in the store", image.Stderr);
        var bare = await CliProcess.RunAsync(f.Socket);
        Assert.Equal(0, bare.ExitCode);
        Assert.Contains("Commands:", bare.Stdout);
    }

    [Fact]
    public async Task A_run_streams_stdout_and_stderr_apart_takes_repeated_env_and_returns_the_exit_code()
    {
        // `run` without -i holds the thread pool to one worker (RunCommand): output in both streams, and more of it than
        // one HTTP/2 window (4 MiB) and one pipe hold, still arrives whole and the exit code after it.
        var r = await CliProcess.RunAsync(f.Socket, "run", "--trusted", "-e", "A=1", "--env", "B=two", "-e", "C=x=y", "sh", "-c",
            "echo out $A $B $C; echo err >&2; head -c 6000000 /dev/zero | tr '\\0' z; exit 7");
        Assert.Equal(7, r.ExitCode);
        Assert.StartsWith("out 1 two x=y\n", r.Stdout);
        Assert.Equal("out 1 two x=y\n".Length + 6000000, r.Stdout.Length);
        Assert.Equal("err\n", r.Stderr);
    }

    [Fact]
    public async Task Repeatable_options_name_a_malformed_value()
    {
        foreach (var (args, message) in new[]
        {
            (new[] { "run", "-e", "NOVALUE", "true" }, "--env 'NOVALUE' must be NAME=VALUE"),
            (["run", "--network", "none", "--allow", "example.org", "true"], "--allow and -p need --network egress"),
            (["exec", "-e", "=x", "sb-x", "true"], "--env '=x' must be NAME=VALUE"),
        })
        {
            var r = await CliProcess.RunAsync(f.Socket, args);
            Assert.True(r.ExitCode == ExitCodes.Usage, $"{string.Join(' ', args)}: exit {r.ExitCode}, {r.Stderr}");
            Assert.Contains(message, r.Stderr);
        }
    }

    [Fact]
    public async Task A_proxy_in_the_environment_does_not_come_between_the_CLI_and_its_socket()
    {
        // Nothing listens on port 9: were the proxy used, the call would fail (it did: HTTP/2 through a proxy).
        var proxy = "http://127.0.0.1:9";
        var r = await CliProcess.RunWithEnvironmentAsync(f.Socket,
            new Dictionary<string, string> { ["http_proxy"] = proxy, ["HTTP_PROXY"] = proxy, ["all_proxy"] = proxy, ["https_proxy"] = proxy },
            "run", "--trusted", "echo", "direct");
        Assert.Equal((0, "direct\n", ""), (r.ExitCode, r.Stdout, r.Stderr));
    }

    [Fact]
    public async Task Verbose_runs_print_the_tier_and_the_granted_limits()
    {
        var r = await CliProcess.RunAsync(f.Socket, "run", "--trusted", "-v", "-m", "300m", "--pids", "50", "true");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("container tier, memory 300 MiB", r.Stderr);
        Assert.Contains("pids 50", r.Stderr);
    }
}
