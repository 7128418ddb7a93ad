using System.Diagnostics;
using System.Text.Json;

namespace Sandbox.Cli.Tests;

/// <summary>create / exec / inspect / ps / cp / rm / stop against a real sandboxd, as a user types them.</summary>
[Collection("cli")]
public sealed class SandboxVerbTests(CliFixture f)
{
    private async Task<string> CreateAsync(params string[] flags)
    {
        var r = await CliProcess.RunAsync(f.Socket, ["create", "--trusted", .. flags]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        return r.Stdout.Trim();
    }

    [Fact]
    public async Task Create_takes_limits_workdir_env_and_ttl_and_inspect_shows_them()
    {
        var id = await CreateAsync("-m", "300m", "--pids", "40", "-w", "/work", "-e", "GREETING=hi", "--ttl", "10m", "-l", "suite=cli");
        try
        {
            var json = JsonDocument.Parse((await CliProcess.RunAsync(f.Socket, "inspect", id)).Stdout).RootElement[0];
            Assert.Equal("300", json.GetProperty("limits").GetProperty("memoryMib").GetString());
            Assert.Equal(40, json.GetProperty("limits").GetProperty("pids").GetInt32());
            Assert.Contains("pid", json.GetProperty("namespaces").EnumerateArray().Select(e => e.GetString()));
            Assert.NotEmpty(json.GetProperty("seccompDigest").GetString()!);
            var ps = JsonDocument.Parse((await CliProcess.RunAsync(f.Socket, "ps", "--format", "json")).Stdout).RootElement;
            Assert.Contains(ps.EnumerateArray(), s => s.GetProperty("id").GetString() == id);

            var r = await CliProcess.RunAsync(f.Socket, "exec", "-e", "X=1", "-w", "/tmp", id, "sh", "-c", "echo $GREETING $X $(pwd)");
            Assert.Equal("hi 1 /tmp\n", r.Stdout);
            Assert.Equal("0\n", (await CliProcess.RunAsync(f.Socket, "exec", "-u", "root", id, "id", "-u")).Stdout);
            Assert.Equal("1234:1234\n", (await CliProcess.RunAsync(f.Socket, "exec", "--user", "1234", id, "sh", "-c", "echo $(id -u):$(id -g)")).Stdout);
            Assert.Equal(ExitCodes.Usage, (await CliProcess.RunAsync(f.Socket, "exec", "-u", "a:b:c", id, "true")).ExitCode);
        }
        finally
        {
            await CliProcess.RunAsync(f.Socket, "rm", id);
        }
    }

    [Fact]
    public async Task Exec_with_a_tty_runs_on_a_pty_and_long_execs_outlive_the_default_timeout()
    {
        var id = await CreateAsync("--timeout", "2s");
        try
        {
            var tty = await CliProcess.RunAsync(f.Socket, "exec", "-t", id, "sh", "-c", "tty; stty size");
            Assert.Matches(@"^/dev/pts/\d+\r\n24 80\r\n$", tty.Stdout);
            // The sandbox's per-process timeout is 2 s; an exec that asks for none runs until the sandbox expires.
            Assert.Equal(0, (await CliProcess.RunAsync(f.Socket, "exec", id, "sleep", "3")).ExitCode);
            Assert.Equal(ExitCodes.Timeout, (await CliProcess.RunAsync(f.Socket, "exec", "--timeout", "1s", id, "sleep", "5")).ExitCode);
        }
        finally
        {
            await CliProcess.RunAsync(f.Socket, "rm", id);
        }
    }

    [Fact]
    public async Task Cp_copies_files_and_directories_both_ways_with_modes_and_parents()
    {
        var id = await CreateAsync();
        var local = Directory.CreateTempSubdirectory("cli-cp-");
        try
        {
            var tree = Directory.CreateDirectory(Path.Combine(local.FullName, "tree", "sub"));
            var script = Path.Combine(tree.FullName, "run.sh");
            await File.WriteAllTextAsync(script, "#!/bin/sh\necho ran\n");
            File.SetUnixFileMode(script, (UnixFileMode)0x1e8); // 0750
            Assert.Equal(0, (await CliProcess.RunAsync(f.Socket, "cp", Path.Combine(local.FullName, "tree"), $"{id}:/work/deep/er")).ExitCode);
            Assert.Equal("ran\n", (await CliProcess.RunAsync(f.Socket, "exec", id, "/work/deep/er/sub/run.sh")).Stdout);
            Assert.Equal("750\n", (await CliProcess.RunAsync(f.Socket, "exec", id, "stat", "-c", "%a", "/work/deep/er/sub/run.sh")).Stdout);
            Assert.Equal(0, (await CliProcess.RunAsync(f.Socket, "cp", script, $"{id}:/work/a/b/c.sh")).ExitCode);

            var back = Path.Combine(local.FullName, "back");
            Assert.Equal(0, (await CliProcess.RunAsync(f.Socket, "cp", $"{id}:/work/deep", back)).ExitCode);
            Assert.Equal((UnixFileMode)0x1e8, File.GetUnixFileMode(Path.Combine(back, "er", "sub", "run.sh")));
            var missing = await CliProcess.RunAsync(f.Socket, "cp", Path.Combine(local.FullName, "nope"), $"{id}:/work/x");
            Assert.Equal(1, missing.ExitCode);
            Assert.Contains("no such file", missing.Stderr);

            var tar = Process.Start(CliProcess.StartInfo(f.Socket, ["cp", $"{id}:/work/a", "-"]))!;
            var listing = Process.Start(new ProcessStartInfo("tar", "-t") { RedirectStandardInput = true, RedirectStandardOutput = true })!;
            await tar.StandardOutput.BaseStream.CopyToAsync(listing.StandardInput.BaseStream);
            listing.StandardInput.Close();
            Assert.Contains("b/c.sh", await listing.StandardOutput.ReadToEndAsync());
        }
        finally
        {
            local.Delete(recursive: true);
            await CliProcess.RunAsync(f.Socket, "rm", id);
        }
    }

    [Fact]
    public async Task Rm_removes_what_it_can_and_reports_the_rest_and_stop_ends_gracefully()
    {
        var (a, b, c) = (await CreateAsync(), await CreateAsync(), await CreateAsync());
        var rm = await CliProcess.RunAsync(f.Socket, "rm", a, "sb-missing", b);
        Assert.Equal(1, rm.ExitCode);
        Assert.Contains("sb-missing", rm.Stderr);
        Assert.Equal($"{a}\n{b}\n", rm.Stdout);
        var forced = await CliProcess.RunAsync(f.Socket, "rm", "-f", "sb-missing");
        Assert.Equal(0, forced.ExitCode);
        Assert.Equal("", forced.Stdout); // nothing was deleted, so no id is printed
        Assert.Equal(0, (await CliProcess.RunAsync(f.Socket, "stop", "-t", "5", c)).ExitCode);
        Assert.DoesNotContain(c, (await CliProcess.RunAsync(f.Socket, "ps", "-q")).Stdout);
    }

    [Fact]
    public async Task Doctor_checks_that_sandboxd_answers()
    {
        var r = await CliProcess.RunAsync(f.Socket, "doctor");
        Assert.Matches(@"sandboxd\s+ok\s+answers on", r.Stdout);
        Assert.Contains("access", r.Stdout);
    }

    [Fact]
    public async Task Sandboxd_answers_help_and_version()
    {
        foreach (var flag in new[] { "--help", "--version" })
        {
            var p = Process.Start(new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "sandboxd.dll"), flag]) { RedirectStandardOutput = true })!;
            var output = await p.StandardOutput.ReadToEndAsync();
            await p.WaitForExitAsync();
            Assert.Equal(0, p.ExitCode);
            Assert.Contains("sandboxd", output);
        }
    }
}
