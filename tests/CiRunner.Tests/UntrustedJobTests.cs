using Sandbox.CiRunner.Execution;

namespace Sandbox.CiRunner.Tests;

/// <summary>A fork's pull request: the CI policy puts its job in a microVM without secrets or network, whatever the
/// workflow file says; the job's attacks fail and it still runs its real work.</summary>
[Collection("sandboxes")]
public sealed class UntrustedJobTests
{
    [SandboxFact(MicroVm = true)]
    public async Task A_fork_pull_request_runs_in_a_microvm_without_secrets_or_network()
    {
        await using var h = new CiHarness();
        File.WriteAllText(Path.Combine(h.Repo, "data.txt"), "pr data\n");
        var result = await h.RunAsync("""
            jobs:
              pr:
                runs-on: ubuntu-latest
                env:
                  LEAK: ${{ secrets.TOKEN }}
                steps:
                  - uses: actions/checkout@v4
                  - run: |
                      cat data.txt
                      echo "secret=[${{ secrets.TOKEN }}] env=[$LEAK] event=$GITHUB_EVENT_NAME ref=$GITHUB_REF"
                      python3 -c "import json,os; e=json.load(open(os.environ['GITHUB_EVENT_PATH'])); print('fork', e['pull_request']['head']['repo']['fork'])"
                      if python3 -c "import socket; socket.create_connection(('10.0.2.2', 53), timeout=3)" 2>/dev/null; then echo NETWORK-REACHED; else echo no network; fi
                      if cat /proc/1/environ 2>/dev/null | tr '\0' '\n' | grep -q s3cr3t; then echo SECRET-FOUND; else echo no secret in pid 1; fi
            """, h.Options("pull_request", fork: true));
        var text = h.Observer.Text;
        Assert.True(result.Succeeded, text);
        var job = Assert.Single(result.Jobs);
        Assert.StartsWith("microvm", job.Tier);
        Assert.Equal(("fork", false), (job.Decision!.Trust, job.Decision.Secrets));
        Assert.Contains("pr data", text);
        Assert.Contains("secret=[] env=[] event=pull_request ref=refs/pull/7/merge", text);
        Assert.Contains("fork True", text);
        Assert.Contains("no network", text);
        Assert.DoesNotContain("NETWORK-REACHED", text);
        Assert.DoesNotContain("SECRET-FOUND", text);
        Assert.Empty(h.Core.Registry.All);
    }
}
