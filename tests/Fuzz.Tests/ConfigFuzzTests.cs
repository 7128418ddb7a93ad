using Sandbox.SandboxApi.Configuration;

namespace Sandbox.Fuzz.Tests;

/// <summary>sandboxd's YAML configuration (an administrator's file, but a bad one must be a clear ConfigException naming
/// the key, never a crash of the daemon's start-up).</summary>
[Collection("fuzz")]
public sealed class ConfigFuzzTests
{
    private static readonly string[] s_samples =
    [
        Corpus.Read("config/sandboxd.yaml"),
        """
        listen:
          unix_path: /run/x.sock
          unix_mode: "0660"
        tenants:
          - name: acme
            uids: [0, 1000]
            token_sha256: ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]
            max_sandboxes: 3
            max_streams: 4
            max_inflight_mib: 64
        policy:
          ceilings: { memory_mib: 1024, vcpus: 2, pids: 100, disk_mib: 10, timeout_s: 5 }
        sandboxes: { default_ttl_s: 10, max_ttl_s: 20, reap_interval_ms: 100 }
        container: { cgroup_parent: sb, host_uid_base: 300000, host_uid_count: 10 }
        log: { level: debug }
        """,
    ];

    [Fact]
    public void SandboxdYaml() =>
        FuzzHarness.RunText("sandboxd.yaml", Mutations.Text(s_samples, Corpus.YamlJsonTokens), text => ConfigLoader.Parse(text, "fuzz"),
            [typeof(ConfigException)]);
}
