using System.Text.Json;

namespace Sandbox.SyscallFilter.Tests.Loading;

public class OciJsonProfileTests
{
    [Fact]
    public void DockerStyleProfile_ImportsWithRuncMeaning()
    {
        const string json = """
            {
              "defaultAction": "SCMP_ACT_ERRNO",
              "defaultErrnoRet": 1,
              "archMap": [ { "architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] } ],
              "syscalls": [
                { "names": ["read", "chown32", "_llseek", "write"], "action": "SCMP_ACT_ALLOW", "args": [] },
                { "names": ["clone"], "action": "SCMP_ACT_ALLOW",
                  "args": [ { "index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ" } ] },
                { "names": ["personality"], "action": "SCMP_ACT_ALLOW",
                  "args": [ { "index": 0, "value": 0, "op": "SCMP_CMP_EQ" }, { "index": 0, "value": 8, "op": "SCMP_CMP_EQ" } ] },
                { "names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": { "caps": ["CAP_SYS_ADMIN"] } },
                { "names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": { "arches": ["amd64", "x32"] } },
                { "names": ["sync_file_range2"], "action": "SCMP_ACT_ALLOW", "includes": { "arches": ["ppc64le"] } },
                { "names": ["getpid"], "action": "SCMP_ACT_ALLOW", "excludes": { "caps": ["CAP_SYS_ADMIN"] }, "includes": { "minKernel": "4.8" } },
                { "names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38 },
                { "names": ["uname"], "action": "SCMP_ACT_KILL" },
                { "names": ["tkill"], "action": "SCMP_ACT_KILL_PROCESS", "comment": "why" }
              ]
            }
            """;

        var profile = SeccompProfileLoader.FromOciJson(json, "docker.json");

        Assert.Equal(SeccompAction.FailWith(1), profile.DefaultAction);
        Assert.Equal(["read", "write"], profile.Rules[0].Names);
        Assert.Equal(new ArgCondition(0, ArgOperator.MaskedEq, 0, 2114060288), profile.Rules[1].Conditions.Single());
        // the same index twice: runc adds each condition as its own rule (either may hold)
        Assert.Equal(new ArgCondition(0, ArgOperator.Eq, 0), profile.Rules[2].Conditions.Single());
        Assert.Equal(new ArgCondition(0, ArgOperator.Eq, 8), profile.Rules[3].Conditions.Single());
        var names = profile.Rules.SelectMany(r => r.Names).ToArray();
        Assert.DoesNotContain("mount", names);
        Assert.DoesNotContain("sync_file_range2", names);
        Assert.Contains("arch_prctl", names);
        Assert.Contains("getpid", names);
        Assert.Equal(SeccompAction.FailWith(38), profile.Rules.Single(r => r.Names.Contains("clone3")).Action);
        Assert.Equal(SeccompAction.KillThread, profile.Rules.Single(r => r.Names.Contains("uname")).Action);
        Assert.Equal("why", profile.Rules.Single(r => r.Names.Contains("tkill")).Comment);
    }

    [Fact]
    public void Export_IsOciRuntimeSpecShaped()
    {
        var profile = new SeccompProfile("x", SeccompAction.FailWith(1),
        [
            new SeccompRule(["clone"], SeccompAction.Allow, [new ArgCondition(0, ArgOperator.MaskedEq, 0, 0x10000000)]),
            new SeccompRule(["clone3"], SeccompAction.FailWith(38)),
        ]);

        using var document = JsonDocument.Parse(SeccompProfileLoader.ToOciJson(profile));
        var root = document.RootElement;

        Assert.Equal("SCMP_ACT_ERRNO", root.GetProperty("defaultAction").GetString());
        Assert.Equal(1, root.GetProperty("defaultErrnoRet").GetInt32());
        Assert.Equal("SCMP_ARCH_X86_64", root.GetProperty("architectures")[0].GetString());
        var arg = root.GetProperty("syscalls")[0].GetProperty("args")[0];
        Assert.Equal(0x10000000UL, arg.GetProperty("value").GetUInt64());   // libseccomp: value is the mask
        Assert.Equal(0UL, arg.GetProperty("valueTwo").GetUInt64());
        Assert.Equal("SCMP_CMP_MASKED_EQ", arg.GetProperty("op").GetString());
        Assert.Equal(38, root.GetProperty("syscalls")[1].GetProperty("errnoRet").GetInt32());
    }

    [Theory]
    [InlineData("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read","foo"],"action":"SCMP_ACT_ALLOW"}]}""",
        "syscalls[0].names[1]: unknown syscall 'foo' for x86_64")]
    [InlineData("""{"defaultAction":"SCMP_ACT_ALLOW","syscallz":[]}""", "syscallz: unknown field 'syscallz'")]
    [InlineData("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_FOO"}]}]}""",
        "syscalls[0].args[0].op: unknown operator \"SCMP_CMP_FOO\"")]
    [InlineData("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":9,"value":1,"op":"SCMP_CMP_EQ"}]}]}""",
        "syscalls[0].args[0].index: argument index 9 is out of range [0, 5]")]
    [InlineData("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":-1,"op":"SCMP_CMP_EQ"}]}]}""",
        "syscalls[0].args[0].value: expected an unsigned 64-bit integer, got -1")]
    [InlineData("""{"defaultAction":"SCMP_ACT_TRACE"}""", "defaultAction: action 'SCMP_ACT_TRACE' is not supported")]
    [InlineData("""{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":4096}""", "defaultAction: errno 4096 is out of range [1, 4095]")]
    [InlineData("""{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_AARCH64"]}""", "architectures: architectures [\"SCMP_ARCH_AARCH64\"] do not include SCMP_ARCH_X86_64")]
    [InlineData("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"},{"names":["read"],"action":"SCMP_ACT_LOG"}]}""",
        "syscalls[1].names[0]: 'read' is log here but rules[0] already decides it unconditionally as allow")]
    [InlineData("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"]}]}""", "syscalls[0]: missing 'action'")]
    [InlineData("""{"defaultAction": """, "not valid JSON")]
    public void BadInput_NamesThePlace(string json, string expected)
    {
        var error = Assert.Throws<SeccompProfileException>(() => SeccompProfileLoader.FromOciJson(json, "bad.json"));
        Assert.Contains(expected, error.Message);
    }
}
