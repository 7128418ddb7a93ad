using Sandbox.Isolation;

namespace Sandbox.E2E;

/// <summary>Bad requests get clear errors that name what is wrong, and leave nothing behind.</summary>
public sealed class BadInputTests
{
    public static TheoryData<ExecutionMode> Modes => [ExecutionMode.OneShot, ExecutionMode.Agent];

    private static async Task<SandboxException> Fails(ExecutionMode mode, ProcessSpec process, SandboxSpec? spec = null)
    {
        spec ??= new SandboxSpec();
        var e = await Assert.ThrowsAnyAsync<SandboxException>(() => Harness.RunAsync(mode, process, spec));
        Assert.Empty(Harness.CgroupLeftovers(spec.Id));
        return e;
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Empty_argv(ExecutionMode mode)
    {
        var e = await Fails(mode, new ProcessSpec { Argv = [] });
        Assert.Contains("argv is empty", e.Message);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Huge_environment(ExecutionMode mode)
    {
        var env = Enumerable.Range(0, 5000).ToDictionary(i => "V" + i, _ => new string('x', 100));
        var e = await Fails(mode, Harness.Sh("true") with { Env = env });
        Assert.Contains("variables; at most", e.Message);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Invalid_limits_are_all_reported(ExecutionMode mode)
    {
        var spec = new SandboxSpec { Limits = ResourceLimits.Default with { MemoryMiB = 1, PidsMax = 0, Cpus = -1 } };
        var e = Assert.IsType<SpecValidationException>(await Fails(mode, Harness.Sh("true"), spec));
        Assert.Equal(3, e.Errors.Count);
        Assert.Contains(e.Errors, m => m.Contains("memory_mib 1"));
        Assert.Contains(e.Errors, m => m.Contains("pids 0"));
        Assert.Contains(e.Errors, m => m.Contains("cpus -1"));
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Nonexistent_rootfs(ExecutionMode mode)
    {
        var e = await Fails(mode, Harness.Sh("true"), new SandboxSpec { Rootfs = RootfsSpec.Directory("/nonexistent/rootfs") });
        Assert.Contains("'/nonexistent/rootfs' does not exist", e.Message);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Unknown_seccomp_profile(ExecutionMode mode)
    {
        var e = await Fails(mode, Harness.Sh("true"), new SandboxSpec { SyscallProfile = "no-such-profile" });
        Assert.Contains("no-such-profile", e.Message);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Workdir_with_dotdot(ExecutionMode mode)
    {
        var e = await Fails(mode, Harness.Sh("true"), new SandboxSpec { WorkDir = "/work/../etc" });
        Assert.Contains("must not contain '..'", e.Message);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Nul_in_argument(ExecutionMode mode)
    {
        var e = await Fails(mode, new ProcessSpec { Argv = ["echo", "a\0b"] });
        Assert.Contains("NUL", e.Message);
    }

    [Fact]
    public void Sandbox_ids_are_validated()
    {
        Assert.Throws<SandboxException>(() => SandboxId.Parse("../etc"));
        Assert.Throws<SandboxException>(() => SandboxId.Parse(new string('a', 65)));
        Assert.Equal("sb-1", SandboxId.Parse("sb-1").Value);
    }

    [Fact]
    public async Task Cancellation_kills_the_run_and_cleans_up()
    {
        var spec = new SandboxSpec();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            Harness.RunAsync(ExecutionMode.OneShot, new ProcessSpec { Argv = ["sleep", "60"] }, spec, cancellationToken: cts.Token));
        Assert.Empty(Harness.CgroupLeftovers(spec.Id));
    }
}
