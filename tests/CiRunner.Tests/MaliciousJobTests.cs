using System.Net;
using System.Net.Sockets;
using Sandbox.CiRunner.Execution;

namespace Sandbox.CiRunner.Tests;

/// <summary>A workflow whose jobs attack, on both tiers: one job goes after the other jobs' workspaces, the runner's
/// files on the host (the repository it was checked out from, the cache and artifact stores), the secrets and the
/// network (the host's loopback, where the test listens, asked for as egress and not granted); another tries to
/// replace the artifact an honest job uploaded and to plant a cache entry. Every attack fails, and the honest jobs of
/// the same run succeed with their own data. On the microVM tier the run is a fork's pull request (the default policy);
/// on the container tier a push whose CI policy (a test bundle) says trusted code in a container, without secrets or
/// egress: the same attacks from code that got a container, as a compromised dependency of a trusted job would.</summary>
[Collection("sandboxes")]
public sealed class MaliciousJobTests
{
    /// <summary>Trusted code in a container, without secrets or egress: what a job's decision may say on that tier.</summary>
    private const string ContainerNoSecretsPolicy = """
        package ci
        import rego.v1
        decision := {"trust": "trusted", "isolation": "container", "secrets": false, "egress": [],
            "reasons": ["test: trusted code in a container, without secrets or egress"]}
        """;

    [SandboxFact(MicroVm = true)]
    public Task A_malicious_fork_job_in_a_microvm_fails_its_attacks_and_cannot_affect_other_jobs() => AttackAsync(microVm: true);

    [SandboxFact]
    public Task A_malicious_job_in_a_container_fails_its_attacks_and_cannot_affect_other_jobs() => AttackAsync(microVm: false);

    private static async Task AttackAsync(bool microVm)
    {
        // A service on the host's loopback: no job may reach it (network none; the egress it asks for is not granted).
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var policyDir = microVm ? null : Directory.CreateTempSubdirectory("ci-policy-").FullName;
        if (policyDir is not null)
            File.WriteAllText(Path.Combine(policyDir, "policy.rego"), ContainerNoSecretsPolicy);
        await using var h = new CiHarness();
        File.WriteAllText(Path.Combine(h.Repo, "data.txt"), "honest data\n");
        var artifacts = Directory.CreateTempSubdirectory("ci-artifacts-").FullName;
        try
        {
            // The host paths the attacker goes for are written into its workflow, as a fork author who knows the
            // runner's layout would.
            var yaml = """
                jobs:
                  honest:
                    runs-on: ubuntu-latest
                    steps:
                      - uses: actions/checkout@v4
                      - run: mkdir -p out && cp data.txt out/result.txt && echo "honest-workspace-marker" > marker.txt
                      - uses: actions/upload-artifact@v4
                        with:
                          name: result
                          path: out
                  attacker:
                    runs-on: ubuntu-latest
                    env:
                      STOLEN: ${{ secrets.TOKEN }}
                    steps:
                      - uses: actions/checkout@v4
                      - name: attacks
                        run: |
                          try() { if sh -c "$2" >/dev/null 2>&1; then echo "ATTACK-SUCCEEDED: $1"; else echo "attack failed: $1"; fi; }
                          try secret-expression '[ -n "${{ secrets.TOKEN }}" ]'
                          try secret-env '[ -n "$STOLEN" ]'
                          try secret-pid1 'tr "\0" "\n" < /proc/1/environ | grep -q "s3cr""3t-value"'
                          try secret-anywhere 'grep -rqs "s3cr""3t-value" /home /tmp /proc/self/environ'
                          try other-workspace 'grep -rqs "honest-workspace""-marker" /home/runner/work /tmp /proc/*/root/home 2>/dev/null'
                          try other-processes 'ps -eo args | grep -q "[c]p data.txt"'
                          try host-repository 'ls "@REPO@"'
                          try host-cache-store 'ls "@REPO@/.cache-store"'
                          try host-artifacts 'ls "@ARTIFACTS@"'
                          try host-root 'ls /root'
                          try host-sandbox-state 'ls /run/sandbox || ls /var/lib/sandbox || ls /var/cache/sandbox'
                          try network-host-loopback 'python3 -c "import socket; socket.create_connection((\"127.0.0.1\", @PORT@), timeout=3)"'
                          try network-host 'python3 -c "import socket; socket.create_connection((\"10.0.2.2\", 53), timeout=3)"'
                          try network-outside 'python3 -c "import socket; socket.create_connection((\"1.1.1.1\", 443), timeout=3)"'
                          try write-image-root 'touch /usr/bin/poisoned'
                      - name: kill everything it can see
                        continue-on-error: true
                        run: kill -9 -1
                  poisoner:
                    needs: honest
                    runs-on: ubuntu-latest
                    steps:
                      - run: mkdir -p out deps && echo poisoned > out/result.txt && echo poisoned > deps/lib
                      - id: replace
                        uses: actions/upload-artifact@v4
                        continue-on-error: true
                        with:
                          name: result
                          path: out
                      - uses: actions/cache@v4
                        with:
                          path: deps
                          key: deps-v1
                      - run: echo "replace outcome ${{ steps.replace.outcome }}"
                  check:
                    needs: [honest, attacker, poisoner]
                    if: always()
                    runs-on: ubuntu-latest
                    steps:
                      - uses: actions/download-artifact@v4
                        with:
                          name: result
                      - run: cat result.txt
                """.Replace("@REPO@", h.Repo, StringComparison.Ordinal).Replace("@ARTIFACTS@", artifacts, StringComparison.Ordinal)
                    .Replace("@PORT@", port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
            var options = microVm ? h.Options("pull_request", fork: true) : h.Options();
            var result = await h.RunAsync(yaml, options with
            {
                ArtifactsDirectory = artifacts,
                MaxParallelJobs = 2,
                Egress = [$"127.0.0.1:{port}"],
            }, mirrors: microVm ? ["127.0.0.1"] : null, ciPolicy: policyDir);
            var text = h.Observer.Text;
            Assert.DoesNotContain("ATTACK-SUCCEEDED", text);
            Assert.DoesNotContain("s3cr3t-value", text);
            foreach (var attack in new[] { "secret-expression", "secret-env", "secret-pid1", "secret-anywhere", "other-workspace", "other-processes",
                "host-repository", "host-cache-store", "host-artifacts", "host-root", "host-sandbox-state", "network-host-loopback", "network-host", "network-outside",
                "write-image-root" })
                Assert.Contains("attack failed: " + attack, text);
            Assert.All(result.Jobs, j => Assert.StartsWith(microVm ? "microvm" : "container", j.Tier));
            Assert.All(result.Jobs, j => Assert.Empty(j.Egress));
            // On the microVM tier the CI policy keeps the loopback entry (listed as a mirror here) and the sandbox
            // policy drops it for untrusted code: the job is told so, and runs without it.
            if (microVm)
                Assert.Contains($"egress 127.0.0.1:{port}: granted by the CI policy, not by the sandbox policy", text);
            Assert.False(listener.Pending(), "a job reached the host's loopback");
            Assert.Equal(Conclusion.Success, result.Jobs.Single(j => j.JobId == "honest").Conclusion);
            Assert.True(text.Contains("[poisoner] replace outcome failure", StringComparison.Ordinal), text);
            Assert.True(text.Contains("an artifact named 'result' was already uploaded in this run (by job 'honest')", StringComparison.Ordinal), text);
            // The check job reads the honest job's artifact, never the attacker's.
            var check = result.Jobs.Single(j => j.JobId == "check");
            Assert.Equal(Conclusion.Success, check.Conclusion);
            Assert.Contains("[check] honest data", text);
            Assert.Equal("honest data\n", File.ReadAllText(Path.Combine(artifacts, "result", "result.txt")));
            // The fork's cache entry lands in the fork's own scope, never the trusted one a push restores from.
            if (microVm)
                Assert.False(Directory.Exists(Path.Combine(h.Repo, ".cache-store", "trusted")), "a fork wrote the trusted cache scope");
            Assert.Empty(h.Core.Registry.All);
        }
        finally
        {
            Directory.Delete(artifacts, recursive: true);
            if (policyDir is not null)
                Directory.Delete(policyDir, recursive: true);
        }
    }
}
