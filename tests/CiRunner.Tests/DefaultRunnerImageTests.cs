using Sandbox.CiRunner.Execution;
using Sandbox.CiRunner.Workflow;
using Sandbox.Isolation.Images;

namespace Sandbox.CiRunner.Tests;

/// <summary>debian:bookworm as the automatic runner image: GitHub's default labels map to it when no --runner-image is
/// configured, a configured mapping (or LABEL=host) is kept, and a run finds the image the store already holds (the one
/// scripts/bootstrap.sh and the other runner-image tests use: no second mmdebstrap here).</summary>
[Collection("sandboxes")]
public sealed class DefaultRunnerImageTests
{
    private const string Workflow = """
        jobs:
          t:
            runs-on: ubuntu-latest
            steps:
              - run: echo "debian $(cat /etc/debian_version 2>/dev/null || echo none) uid=$(id -u)"
        """;

    [Fact]
    public void Default_labels_map_to_debian_bookworm_only_when_no_runner_image_is_configured()
    {
        var workflow = WorkflowParser.Parse(Workflow, "w.yml");
        var bare = new RunOptions { WorkspaceSource = "/nonexistent", Ref = "refs/heads/main", Sha = new string('0', 40), Actor = "a", Repository = "local/r" };
        var defaults = DefaultRunnerImage.Apply(bare);
        Assert.Equal(DefaultRunnerImage.Name, defaults.RunnerImages["ubuntu-latest"]);
        Assert.Equal(DefaultRunnerImage.Name, defaults.RunnerImages["ubuntu-22.04"]);
        Assert.True(DefaultRunnerImage.Wanted(workflow, defaults));

        var configured = bare with { RunnerImages = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { ["ubuntu-latest"] = "host" } };
        Assert.Same(configured, DefaultRunnerImage.Apply(configured));
        Assert.False(DefaultRunnerImage.Wanted(workflow, configured));
    }

    [SandboxFact(RunnerImage = true)]
    public async Task A_job_on_ubuntu_latest_runs_on_the_default_image_the_store_already_holds()
    {
        var reports = new List<string>();
        Assert.False(await DefaultRunnerImage.EnsureAsync(new ImageStore(new ImageStoreOptions()), new SyncProgress(reports.Add), CancellationToken.None));
        Assert.Empty(reports);

        await using var h = new CiHarness();
        var result = await h.RunAsync(Workflow, DefaultRunnerImage.Apply(h.Options()));
        Assert.True(result.Succeeded, h.Observer.Text);
        Assert.Equal(DefaultRunnerImage.Name, Assert.Single(result.Jobs).Image);
        Assert.Contains("debian 12.", h.Observer.Text);
        Assert.Contains("uid=0", h.Observer.Text);
    }

    [SandboxFact]
    public async Task Runner_image_host_runs_the_job_on_this_hosts_userland()
    {
        await using var h = new CiHarness();
        var options = h.Options() with { RunnerImages = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { ["ubuntu-latest"] = DefaultRunnerImage.Host } };
        var result = await h.RunAsync(Workflow, options);
        Assert.True(result.Succeeded, h.Observer.Text);
        Assert.Null(Assert.Single(result.Jobs).Image);
        Assert.Contains("uid=1000", h.Observer.Text);
    }

    private sealed class SyncProgress(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }
}
