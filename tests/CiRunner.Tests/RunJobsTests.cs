using Sandbox.CiRunner.Execution;

namespace Sandbox.CiRunner.Tests;

/// <summary>Real jobs in real sandboxes (container tier: a trusted push), through Core as `sandbox ci run --local`.</summary>
[Collection("sandboxes")]
public sealed class RunJobsTests
{
    [SandboxFact]
    public async Task Steps_env_files_outputs_and_needs_work_as_on_GitHub()
    {
        await using var h = new CiHarness();
        File.WriteAllText(Path.Combine(h.Repo, "hello.txt"), "hello from the repo\n");
        var result = await h.RunAsync("""
            env:
              WF: workflow
            jobs:
              first:
                runs-on: ubuntu-latest
                outputs:
                  greeting: ${{ steps.g.outputs.greeting }}
                steps:
                  - uses: actions/checkout@v4
                  - id: g
                    run: |
                      echo "greeting=hi there" >> "$GITHUB_OUTPUT"
                      echo "FROM_ENV=a=b" >> "$GITHUB_ENV"
                      mkdir -p "$HOME/bin" && printf '#!/bin/sh\necho tool ran\n' > "$HOME/bin/mytool" && chmod +x "$HOME/bin/mytool"
                      echo "$HOME/bin" >> "$GITHUB_PATH"
                      echo '### summary' >> "$GITHUB_STEP_SUMMARY"
                  - name: Check ${{ env.WF }}
                    env:
                      STEP: step-${{ steps.g.outputs.greeting }}
                    run: |
                      cat hello.txt
                      echo "env: $WF $FROM_ENV $STEP"
                      mytool
                      echo "ci=$CI ws=$GITHUB_WORKSPACE pwd=$(pwd) job=$GITHUB_JOB ref=$GITHUB_REF_NAME os=$RUNNER_OS"
                  - name: python
                    shell: python
                    run: |
                      import os
                      print("python sees", os.environ["FROM_ENV"])
                  - run: exit 3
                    continue-on-error: true
                    id: soft
                  - if: failure()
                    run: echo must not run
                  - if: steps.soft.outcome == 'failure' && steps.soft.conclusion == 'success'
                    run: echo soft failure seen
              second:
                needs: first
                runs-on: ubuntu-latest
                steps:
                  - run: echo "got ${{ needs.first.outputs.greeting }} result ${{ needs.first.result }}"
            """);
        var text = h.Observer.Text;
        Assert.True(result.Succeeded, text);
        Assert.Contains("hello from the repo", text);
        Assert.Contains("env: workflow a=b step-hi there", text);
        Assert.Contains("tool ran", text);
        Assert.Contains("ci=true ws=/home/runner/work/project/project pwd=/home/runner/work/project/project job=first ref=main os=Linux", text);
        Assert.Contains("python sees a=b", text);
        Assert.Contains("soft failure seen", text);
        Assert.DoesNotContain("must not run", text);
        Assert.Contains("got hi there result success", text);
        var first = result.Jobs.Single(j => j.JobId == "first");
        Assert.Equal("container", first.Tier);
        Assert.Equal("trusted", first.Decision!.Trust);
        Assert.Equal("### summary\n", first.StepSummary);
        Assert.Equal("Check workflow", first.Steps[2].Name);
        Assert.Equal((Conclusion.Failure, Conclusion.Success), (first.Steps[4].Outcome, first.Steps[4].Conclusion));
        Assert.Equal(Conclusion.Skipped, first.Steps[5].Conclusion);
        Assert.Empty(h.Core.Registry.All);
    }

    [SandboxFact]
    public async Task A_failing_step_fails_the_job_and_skips_dependents_and_secrets_are_masked()
    {
        await using var h = new CiHarness();
        var result = await h.RunAsync("""
            jobs:
              a:
                steps:
                  - run: |
                      echo "token is ${{ secrets.TOKEN }}"
                      echo "::add-mask::extra-hidden"
                      echo "then extra-hidden and $MY"
                      false
                      echo unreachable
                    env:
                      MY: ${{ secrets.TOKEN }}
                  - run: echo after
                  - if: always()
                    run: echo cleanup ran
              b:
                needs: a
                steps:
                  - run: echo b ran
              c:
                needs: a
                if: failure()
                steps:
                  - run: echo c ran on failure
            """);
        var text = h.Observer.Text;
        Assert.False(result.Succeeded);
        Assert.DoesNotContain("s3cr3t-value", text);
        Assert.DoesNotContain("extra-hidden", text);
        Assert.Contains("token is ***", text);
        Assert.Contains("then *** and ***", text);
        Assert.DoesNotContain("unreachable", text);
        Assert.DoesNotContain("echo after", text);
        Assert.Contains("cleanup ran", text);
        Assert.Contains("c ran on failure", text);
        Assert.Equal(Conclusion.Skipped, result.Jobs.Single(j => j.JobId == "b").Conclusion);
        Assert.Equal(Conclusion.Failure, result.Jobs.Single(j => j.JobId == "a").Conclusion);
        Assert.Equal(1, result.Jobs.Single(j => j.JobId == "a").Steps[0].ExitCode);
    }

    [SandboxFact]
    public async Task A_matrix_runs_each_leg_and_artifacts_pass_between_jobs()
    {
        await using var h = new CiHarness();
        var artifacts = Path.Combine(h.Repo, "..", Path.GetFileName(h.Repo) + "-artifacts");
        try
        {
            var result = await h.RunAsync("""
                jobs:
                  build:
                    strategy:
                      matrix:
                        n: [1, 2]
                        include:
                          - n: 2
                            extra: yes
                    steps:
                      - run: mkdir -p out && echo "leg ${{ matrix.n }} ${{ matrix.extra }} ${{ strategy.job-index }}/${{ strategy.job-total }}" > out/leg-${{ matrix.n }}.txt
                      - uses: actions/upload-artifact@v4
                        with:
                          name: out-${{ matrix.n }}
                          path: out
                  collect:
                    needs: build
                    steps:
                      - uses: actions/download-artifact@v4
                        with:
                          path: got
                      - run: cat got/out-1/leg-1.txt got/out-2/leg-2.txt
                """, h.Options() with { ArtifactsDirectory = artifacts });
            var text = h.Observer.Text;
            Assert.True(result.Succeeded, text);
            Assert.Equal(["build (1)", "build (2, yes)", "collect"], result.Jobs.Select(j => j.Name));
            Assert.Contains("leg 1  0/2", text);
            Assert.Contains("leg 2 yes 1/2", text);
            Assert.Equal("leg 2 yes 1/2\n", File.ReadAllText(Path.Combine(artifacts, "out-2", "leg-2.txt")));
        }
        finally
        {
            if (Directory.Exists(artifacts)) Directory.Delete(artifacts, true);
        }
    }

    [SandboxFact]
    public async Task A_job_past_its_timeout_is_killed_and_marked_and_its_sandbox_removed()
    {
        await using var h = new CiHarness();
        var result = await h.RunAsync("""
            jobs:
              slow:
                timeout-minutes: 0.05
                steps:
                  - run: sleep 600
                  - if: always()
                    run: echo never
            """);
        var job = Assert.Single(result.Jobs);
        Assert.True(job.TimedOut, h.Observer.Text);
        Assert.Equal(Conclusion.Cancelled, job.Conclusion);
        Assert.Contains("timeout-minutes (0.05)", job.Error);
        Assert.False(result.Succeeded);
        Assert.Empty(h.Core.Registry.All);
    }

    [SandboxFact]
    public async Task Cancelling_the_run_removes_every_sandbox()
    {
        await using var h = new CiHarness();
        using var cts = new CancellationTokenSource();
        var observer = h.Observer;
        var run = h.RunAsync("""
            jobs:
              a:
                steps:
                  - run: echo started && sleep 600
              b:
                steps:
                  - run: echo started && sleep 600
            """, cancellationToken: cts.Token);
        // Cancel once both jobs print (what Ctrl-C does); waiting on their output, not on time.
        await Task.WhenAny(run, observer.WaitForAsync(lines => lines.Count(l => l.EndsWith("] started", StringComparison.Ordinal)) >= 2));
        await cts.CancelAsync();
        var result = await run;
        Assert.True(result.Cancelled);
        Assert.All(result.Jobs, j => Assert.Equal(Conclusion.Cancelled, j.Conclusion));
        Assert.Empty(h.Core.Registry.All);
    }
}

[CollectionDefinition("sandboxes", DisableParallelization = true)]
public sealed class SandboxCollection;
