using Sandbox.CiRunner.Execution;

namespace Sandbox.CiRunner.Tests;

/// <summary>The workflows of examples/ci run for real, as `sandbox ci run --local` runs them in each example's
/// directory: a trusted push, container tier, on the host's userland.</summary>
[Collection("sandboxes")]
public sealed class ExampleWorkflowTests
{
    [SandboxFact]
    public async Task The_C_example_builds_runs_its_unit_tests_and_keeps_its_library()
    {
        await using var h = new CiHarness();
        var artifacts = Directory.CreateTempSubdirectory("ci-artifacts-").FullName;
        try
        {
            var result = await h.RunAsync(Examples.Copy("c", h.Repo), h.Options() with { ArtifactsDirectory = artifacts });
            var text = h.Observer.Text;
            Assert.True(result.Succeeded, text);
            Assert.Equal(["build (gcc)", "build (cc)", "report"], result.Jobs.Select(j => j.Name));
            Assert.All(result.Jobs, j => Assert.Equal("container", j.Tier));
            Assert.Contains("0 failure(s)", text);
            Assert.True(new FileInfo(Path.Combine(artifacts, "libmathx-gcc", "libmathx.a")).Length > 0);
            Assert.StartsWith("### libmathx built with gcc:", result.Jobs.Single(j => j.JobId == "report").StepSummary);
        }
        finally
        {
            Directory.Delete(artifacts, recursive: true);
        }
    }

    [SandboxFact(HostCommand = "pytest-3")]
    public async Task The_Python_example_passes_its_tests_with_Debians_pytest()
    {
        await using var h = new CiHarness();
        var result = await h.RunAsync(Examples.Copy("python", h.Repo));
        var text = h.Observer.Text;
        Assert.True(result.Succeeded, text);
        Assert.Matches(@"\d+ passed", text);
    }

    [SandboxFact(HostCommand = "npm")]
    public async Task The_Node_example_runs_npm_ci_and_npm_test()
    {
        await using var h = new CiHarness();
        var result = await h.RunAsync(Examples.Copy("node", h.Repo));
        var text = h.Observer.Text;
        Assert.True(result.Succeeded, text);
        Assert.Contains("# fail 0", text);
    }
}

/// <summary>examples/ci of this source tree, found from the test assembly's directory upwards.</summary>
internal static class Examples
{
    public static string Root
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "examples", "ci");
                if (Directory.Exists(candidate))
                    return candidate;
            }
            throw new DirectoryNotFoundException($"examples/ci not found above {AppContext.BaseDirectory}");
        }
    }

    /// <summary>Copies the example (without node_modules) into <paramref name="repo"/> and returns its workflow's text.</summary>
    public static string Copy(string name, string repo)
    {
        var source = Path.Combine(Root, name);
        foreach (var file in Directory.EnumerateFiles(source, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }))
        {
            var relative = Path.GetRelativePath(source, file);
            if (relative.Split('/').Contains("node_modules"))
                continue;
            var target = Path.Combine(repo, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        return File.ReadAllText(Path.Combine(repo, ".github", "workflows", "ci.yml"));
    }
}
