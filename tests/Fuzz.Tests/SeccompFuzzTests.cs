using Sandbox.SyscallFilter;

namespace Sandbox.Fuzz.Tests;

/// <summary>Seccomp profiles, YAML and OCI JSON (a tenant's profile is policy data; an OCI runtime spec's is a
/// container's): SeccompProfileException for anything bad, then the compiler must take whatever the loader accepted.</summary>
[Collection("fuzz")]
public sealed class SeccompFuzzTests
{
    private const string OciSample = """
        {
          "defaultAction": "SCMP_ACT_ERRNO",
          "defaultErrnoRet": 1,
          "archMap": [ { "architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] } ],
          "syscalls": [
            { "names": ["read", "write", "openat"], "action": "SCMP_ACT_ALLOW", "args": [] },
            { "names": ["clone"], "action": "SCMP_ACT_ALLOW",
              "args": [ { "index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ" } ] },
            { "names": ["personality"], "action": "SCMP_ACT_ALLOW",
              "args": [ { "index": 0, "value": 0, "op": "SCMP_CMP_EQ" }, { "index": 0, "value": 8, "op": "SCMP_CMP_EQ" } ] },
            { "names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": { "caps": ["CAP_SYS_ADMIN"] } },
            { "names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38 },
            { "names": ["tkill"], "action": "SCMP_ACT_KILL_PROCESS", "comment": "why" }
          ]
        }
        """;

    private static void LoadAndCompile(Func<SeccompProfile> load) => SeccompCompiler.Compile(load());

    [Fact]
    public void YamlProfiles() =>
        FuzzHarness.RunText("seccomp.yaml",
            Mutations.Text([Corpus.Read("policies/seccomp/default.yaml"), Corpus.Read("policies/seccomp/strict.yaml")], Corpus.YamlJsonTokens),
            text => LoadAndCompile(() => SeccompProfileLoader.FromYaml(text, "fuzz.yaml")),
            [typeof(SeccompProfileException)], iterations: FuzzHarness.Iterations / 3);

    [Fact]
    public void OciJsonProfiles() =>
        FuzzHarness.RunText("seccomp.json", Mutations.Text([OciSample], Corpus.YamlJsonTokens),
            text => LoadAndCompile(() => SeccompProfileLoader.FromOciJson(text, "fuzz.json")),
            [typeof(SeccompProfileException)]);
}
