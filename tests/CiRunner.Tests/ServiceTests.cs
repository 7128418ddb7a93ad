using Sandbox.CiRunner.Workflow;

namespace Sandbox.CiRunner.Tests;

/// <summary><c>services:</c>: a service container in a sandbox of its own that joins the job's network (a pod), from
/// an image of the store (<see cref="ServiceImage"/>), reached at localhost:PORT and by its label; it sees none of the
/// job's files; the workflow cannot give it privileges (options other than the health check are refused).</summary>
[Collection("sandboxes")]
public sealed class ServiceTests
{
    private static string Workflow(string image) => $$$"""
        jobs:
          test:
            runs-on: ubuntu-latest
            services:
              web:
                image: {{{image}}}
                env:
                  GREETING: hello
                ports: ['80']
                # The health check also proves the service does not see the job's files (its HOME exists by now).
                options: >-
                  --health-cmd "test ! -e /home/runner && wget -q -O /dev/null http://127.0.0.1/"
                  --health-interval 1s --health-retries 120
            steps:
              - run: |
                  echo "port=${{ job.services.web.ports['80'] }}"
                  python3 - <<'EOF'
                  import urllib.request
                  for url in ("http://localhost:80/", "http://web/"):
                      print(url, urllib.request.urlopen(url, timeout=60).read().decode().strip())
                  EOF
        """;

    [SandboxFact]
    public async Task A_job_reaches_its_service_at_localhost_and_by_label_and_the_service_sees_none_of_its_files()
    {
        var image = await ServiceImage.EnsureAsync();
        await using var h = new CiHarness();
        var result = await h.RunAsync(Workflow(image));
        var text = h.Observer.Text;
        Assert.True(result.Succeeded, text);
        Assert.StartsWith("container", Assert.Single(result.Jobs).Tier);
        Assert.Contains("service 'web' is healthy", text);
        Assert.Contains("port=80", text);
        Assert.Contains("http://localhost:80/ hello from the service", text);
        Assert.Contains("http://web/ hello from the service", text);
        // The service's sandbox went with the job's.
        Assert.Empty(h.Core.Registry.All);
    }

    [SandboxFact]
    public async Task A_fork_job_with_services_fails_saying_why_and_starts_nothing()
    {
        await using var h = new CiHarness();
        var result = await h.RunAsync(Workflow("ci-test-httpd:any"), h.Options("pull_request", fork: true));
        var job = Assert.Single(result.Jobs);
        Assert.False(result.Succeeded);
        Assert.Contains("services: this job's decision is the microvm tier", job.Error);
        Assert.Null(job.SandboxId);
        Assert.Empty(h.Core.Registry.All);
    }

    [Theory]
    [InlineData("options: --privileged", "option '--privileged' is not supported")]
    [InlineData("options: --network host", "option '--network' is not supported")]
    [InlineData("options: -v /:/host", "option '-v' is not supported")]
    [InlineData("options: --health-interval soon", "--health-interval 'soon' must be a duration")]
    [InlineData("credentials: { username: u, password: p }", "jobs.test.services.db.credentials: is not supported")]
    [InlineData("ports: ['8080:80']", "write '80' and use localhost:80")]
    [InlineData("ports: ['127.0.0.1:80:80']", "must be PORT or PORT:PORT")]
    public void Workflow_options_that_would_give_a_service_more_are_refused_by_name(string line, string error)
    {
        var yaml = $"""
            jobs:
              test:
                runs-on: ubuntu-latest
                services:
                  db:
                    image: postgres:16
                    {line}
                steps:
                  - run: true
            """;
        var e = Assert.Throws<WorkflowException>(() => WorkflowParser.Parse(yaml, "test.yml"));
        Assert.Contains(error, e.Message);
    }

    [Fact]
    public void Health_options_are_read_as_docker_reads_them()
    {
        var o = ServiceOptions.Parse("--health-cmd 'pg_isready -U postgres' --health-interval=10s --health-timeout 5s --health-retries 5", out var error);
        Assert.Null(error);
        Assert.Equal("pg_isready -U postgres", o!.HealthCommand);
        Assert.Equal(TimeSpan.FromSeconds(10), o.Interval);
        Assert.Equal(TimeSpan.FromSeconds(5), o.Timeout);
        Assert.Equal(5, o.Retries);
    }
}
