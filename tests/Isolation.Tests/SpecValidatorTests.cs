namespace Sandbox.Isolation.Tests;

public sealed class SpecValidatorTests
{
    [Fact]
    public void Every_problem_is_reported_at_once_and_names_the_value()
    {
        var spec = new SandboxSpec
        {
            Limits = ResourceLimits.Default with { MemoryMiB = 8, PidsMax = 1, Cpus = double.NaN, DiskMiB = 0, OutputBytes = -1 },
            WorkDir = "relative",
            Hostname = "bad host",
            Env = new Dictionary<string, string> { ["A=B"] = "x" },
        };
        var e = Assert.Throws<SpecValidationException>(() => SpecValidator.Validate(spec));
        Assert.Equal(8, e.Errors.Count);
        Assert.Contains(e.Errors, m => m.Contains("memory_mib 8 is out of range [16, 1048576]"));
        Assert.Contains(e.Errors, m => m.Contains("work_dir 'relative' must be an absolute path"));
        Assert.Contains(e.Errors, m => m.Contains("hostname 'bad host'"));
        Assert.Contains(e.Errors, m => m.Contains("env name 'A=B' is invalid"));
        Assert.Equal(SandboxErrorCode.InvalidArgument, e.Code);
    }

    [Theory]
    [InlineData("/work/../etc", "must not contain '..'")]
    [InlineData("work", "must be an absolute path")]
    [InlineData("/a\0b", "NUL")]
    public void Sandbox_paths_are_checked(string path, string message)
    {
        var errors = new List<string>();
        SpecValidator.CheckSandboxPath(path, "path", errors);
        Assert.Contains(errors, e => e.Contains(message));
    }

    [Fact]
    public void A_valid_spec_passes()
    {
        SpecValidator.Validate(new SandboxSpec());
        SpecValidator.Validate(new ProcessSpec { Argv = ["true"] });
    }

    [Fact]
    public void Argv_limits()
    {
        Assert.Contains("argv is empty", Assert.Throws<SpecValidationException>(() => SpecValidator.Validate(new ProcessSpec { Argv = [] })).Message);
        var huge = Enumerable.Repeat(new string('x', 1000), 300).ToArray();
        Assert.Contains("bytes; at most", Assert.Throws<SpecValidationException>(() => SpecValidator.Validate(new ProcessSpec { Argv = huge })).Message);
    }

    [Fact]
    public void Rootfs_must_be_a_normalized_absolute_directory()
    {
        Assert.Contains("must not contain '.' or '..'", Assert.Throws<SpecValidationException>(() =>
            SpecValidator.Validate(new SandboxSpec { Rootfs = RootfsSpec.Directory("/tmp/../etc") })).Message);
        Assert.Contains("must be an absolute path", Assert.Throws<SpecValidationException>(() =>
            SpecValidator.Validate(new SandboxSpec { Rootfs = RootfsSpec.Directory("tmp") })).Message);
    }
}
