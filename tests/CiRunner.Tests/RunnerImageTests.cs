using Sandbox.CiRunner.Execution;

namespace Sandbox.CiRunner.Tests;

/// <summary>Jobs on the default runner image (the Debian image of `sandbox image build`), on both tiers: the image's
/// userland, HOME /home/runner inside the image's own /home, the checkout, and the runner's sudo (root inside the
/// sandbox on both tiers).</summary>
[Collection("sandboxes")]
public sealed class RunnerImageTests
{
    private const string Workflow = """
        jobs:
          on-image:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
              - run: |
                  echo "debian $(cat /etc/debian_version)"
                  cat data.txt
                  echo "home=$HOME pwd=$(pwd) ls-home=$(ls /home)"
                  echo built > out.txt && cat out.txt
                  echo "sudo: $(sudo -n true 2>&1 && echo ok) uid=$(sudo id -u)"
        """;

    [SandboxFact(RunnerImage = true)]
    public async Task A_trusted_push_runs_on_the_runner_image_in_a_container()
    {
        await using var h = new CiHarness();
        await AssertRunsOnImage(h, h.Options(), "container", "sudo: ok");
    }

    [SandboxFact(RunnerImage = true, MicroVm = true)]
    public async Task A_fork_pull_request_runs_on_the_runner_image_in_a_microvm()
    {
        await using var h = new CiHarness();
        // Root inside on the microVM tier too: the guest's root with its few capabilities, the VM the boundary.
        await AssertRunsOnImage(h, h.Options("pull_request", fork: true), "microvm", "sudo: ok");
    }

    private static async Task AssertRunsOnImage(CiHarness h, RunOptions options, string tier, string sudo)
    {
        File.WriteAllText(Path.Combine(h.Repo, "data.txt"), "repo data\n");
        var result = await h.RunAsync(Workflow, CiHarness.OnRunnerImage(options));
        var text = h.Observer.Text;
        Assert.True(result.Succeeded, text);
        var job = Assert.Single(result.Jobs);
        Assert.StartsWith(tier, job.Tier);
        Assert.Equal(CiHarness.RunnerImage, job.Image);
        Assert.Contains("debian 12.", text);
        Assert.Contains("repo data", text);
        Assert.Contains("home=/home/runner pwd=/home/runner/work/project/project ls-home=runner", text);
        Assert.Contains("built", text);
        Assert.Contains(sudo + " uid=0", text);
        Assert.Empty(h.Core.Registry.All);
    }
}
