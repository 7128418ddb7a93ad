using System.Diagnostics;
using Sandbox.Api.V1;
using Sandbox.CiRunner.Tests;

namespace Sandbox.Cli.Tests;

/// <summary>`sandbox ci` as a client of sandboxd (no --local) with a job's service container: the service is a
/// sandbox of sandboxd that joins the job's network (CreateSandbox's network_of, the job's loopback_names) and runs its
/// image's own command (an empty argv); `sandbox ci plan` lists each service with the sandbox policy's decision.</summary>
[Collection("cli")]
public sealed class CiServicesThroughSandboxdTests(CliFixture f)
{
    private static string Workflow(string image) => $$$"""
        on: push
        jobs:
          test:
            runs-on: ubuntu-latest
            services:
              web:
                image: {{{image}}}
                env:
                  GREETING: hello through sandboxd
                ports: ['80']
                options: >-
                  --health-cmd "test ! -e /home/runner && wget -q -O /dev/null http://127.0.0.1/"
                  --health-interval 1s --health-retries 300
            steps:
              - run: |
                  echo "service id ${{ job.services.web.id }}"
                  python3 - <<'EOF'
                  import urllib.request
                  for url in ("http://localhost:80/", "http://web/"):
                      print(url, urllib.request.urlopen(url, timeout=60).read().decode().strip())
                  EOF
        """;

    private static string WriteRepository(string workflow)
    {
        var repo = Path.Combine(Path.GetTempPath(), "ci-sandboxd-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Path.Combine(repo, ".github", "workflows"));
        File.WriteAllText(Path.Combine(repo, ".github", "workflows", "ci.yml"), workflow);
        return repo;
    }

    /// <summary>The CLI to its end, with a guard wide enough for a loaded machine (a job and a service to start).</summary>
    private static async Task<CliResult> CiAsync(string socket, string repo, params string[] args)
    {
        var psi = CliProcess.StartInfo(socket, ["ci", .. args, "--socket", socket]);
        psi.WorkingDirectory = repo;
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        var stdout = p.StandardOutput.ReadToEndAsync(guard.Token);
        var stderr = p.StandardError.ReadToEndAsync(guard.Token);
        await p.WaitForExitAsync(guard.Token);
        return new CliResult(p.ExitCode, await stdout, await stderr);
    }

    [Fact]
    public async Task A_jobs_service_runs_as_a_sandbox_of_sandboxd_in_the_jobs_network_and_both_are_removed()
    {
        var image = await ServiceImage.EnsureAsync();
        var repo = WriteRepository(Workflow(image));
        try
        {
            var r = await CiAsync(f.Socket, repo, "run", "--plain", "--runner-image", "ubuntu-latest=host");
            var text = r.Stdout + r.Stderr;
            Assert.True(r.ExitCode == 0, text);
            Assert.Contains("service 'web' is healthy", text);
            Assert.Contains("http://localhost:80/ hello through sandboxd from the service", text);
            Assert.Contains("http://web/ hello through sandboxd from the service", text);
            // The job's sandbox and its service's were sandboxd's, and both are gone.
            Assert.DoesNotContain((await f.Server.Client.ListSandboxesAsync(new ListSandboxesRequest())).Sandboxes, s => s.Labels.ContainsKey("ci.job"));
        }
        finally
        {
            Directory.Delete(repo, recursive: true);
        }
    }

    [Fact]
    public async Task Plan_lists_each_service_with_its_sandbox_decision_and_runs_nothing()
    {
        var repo = WriteRepository(Workflow("ci-test-httpd:planned"));
        try
        {
            var r = await CiAsync(f.Socket, repo, "plan", "--runner-image", "ubuntu-latest=host");
            Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
            Assert.Contains("ci policy: trust trusted -> container", r.Stdout);
            Assert.Matches(@"service web \(ci-test-httpd:planned\): container, network none, \d+ MiB, .* seccomp \w+; shares the job's network", r.Stdout);

            var fork = await CiAsync(f.Socket, repo, "plan", "--runner-image", "ubuntu-latest=host", "--event", "pull_request", "--fork");
            Assert.True(fork.ExitCode == 0, fork.Stdout + fork.Stderr);
            // A fork's job is a microVM's, whose services are refused (docs/ci.md): said in the plan, as the run says it.
            Assert.Contains("services web (ci-test-httpd:planned): refused, the job fails at its start: services: this job's decision is the microvm tier (trust fork)", fork.Stdout);
            Assert.DoesNotContain((await f.Server.Client.ListSandboxesAsync(new ListSandboxesRequest())).Sandboxes, s => s.Labels.ContainsKey("ci.job"));
        }
        finally
        {
            Directory.Delete(repo, recursive: true);
        }
    }
}
