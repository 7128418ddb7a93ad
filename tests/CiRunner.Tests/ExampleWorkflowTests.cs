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

    /// <summary>The C example on the bare runner image: its Toolchain step runs `sudo apt-get install make gcc` as root
    /// inside the job's container, through egress to this host's Debian mirror only (read from its apt sources now).</summary>
    [SandboxFact(RunnerImage = true, AptMirror = true)]
    public async Task The_C_example_installs_its_toolchain_with_sudo_apt_get_on_the_runner_image()
    {
        var mirror = new Uri(Sandbox.Isolation.Images.AptSources.FindMirror("bookworm")!);
        await using var h = new CiHarness();
        var yaml = Examples.Copy("c", h.Repo);
        var options = CiHarness.OnRunnerImage(h.Options()) with { Egress = [$"{mirror.Host}:{mirror.Port}"], JobFilter = ["build"] };
        var result = await h.RunAsync(yaml, options, mirrors: [mirror.Host]);
        var text = h.Observer.Text;
        Assert.True(result.Succeeded, text);
        Assert.Equal(["build (gcc)", "build (cc)"], result.Jobs.Select(j => j.Name));
        Assert.All(result.Jobs, j => Assert.Equal(("container", CiHarness.RunnerImage), (j.Tier, j.Image)));
        Assert.Contains("Setting up gcc", text);
        Assert.Contains("gcc (Debian 12.", text);
        Assert.Contains("0 failure(s)", text);
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
    public async Task The_Node_example_fetches_its_dependency_through_the_registry_egress_and_passes_npm_test()
    {
        // The registry npm is configured with, read now (never written in the repo): the job's only egress.
        var registry = Examples.NpmRegistryHost();
        await using var h = new CiHarness();
        var result = await h.RunAsync(Examples.Copy("node", h.Repo), h.Options() with { Egress = [registry + ":443"] }, mirrors: [registry]);
        var text = h.Observer.Text;
        Assert.True(result.Succeeded, text);
        Assert.Equal([registry + ":443"], Assert.Single(result.Jobs).Egress);
        Assert.Contains("added 1 package", text);
        Assert.Contains("# pass 3", text);
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

    /// <summary>The host of the registry npm is configured with on this machine (`npm config get registry`).</summary>
    public static string NpmRegistryHost()
    {
        using var npm = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("npm", ["config", "get", "registry"])
        {
            RedirectStandardOutput = true,
        })!;
        var url = npm.StandardOutput.ReadToEnd().Trim();
        npm.WaitForExit();
        return Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Host.Length > 0
            ? uri.Host
            : throw new InvalidOperationException($"npm config get registry answered '{url}', not a URL");
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
