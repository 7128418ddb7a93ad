namespace Sandbox.SyscallFilter.Tests.Loading;

public class YamlProfileTests
{
    private const string Valid = """
        name: sample
        default_action: errno(EPERM)
        rules:
          - names: [read, write]
            action: allow
            comment: basic I/O
          - names: [clone]
            action: allow
            args:
              - { index: 0, op: masked_eq, mask: CLONE_NEWUSER|CLONE_NEWNS, value: 0 }
          - names: [socket]
            action: errno(97)
            args:
              - { index: 0, op: ne, value: AF_UNIX }
              - { index: 1, op: ge, value: 0x10 }
          - names: [uname]
            action: kill_process
          - names: [getpid]
            action: log
          - names: [gettid]
            action: trap
          - names: [tkill]
            action: kill_thread
        """;

    [Fact]
    public void Valid_ParsesEveryPart()
    {
        var profile = SeccompProfileLoader.FromYaml(Valid, "sample.yaml");

        Assert.Equal("sample", profile.Name);
        Assert.Equal(SeccompAction.FailWith(1), profile.DefaultAction);
        Assert.Equal(7, profile.Rules.Count);
        Assert.Equal(["read", "write"], profile.Rules[0].Names);
        Assert.Equal("basic I/O", profile.Rules[0].Comment);
        Assert.Equal(new ArgCondition(0, ArgOperator.MaskedEq, 0, 0x10020000), profile.Rules[1].Conditions[0]);
        Assert.Equal([new ArgCondition(0, ArgOperator.Ne, 1), new ArgCondition(1, ArgOperator.Ge, 16)], profile.Rules[2].Conditions);
        Assert.Equal(SeccompAction.FailWith(97), profile.Rules[2].Action);
        Assert.Equal(
            [SeccompAction.KillProcess, SeccompAction.Log, SeccompAction.Trap, SeccompAction.KillThread],
            profile.Rules.Skip(3).Select(r => r.Action));
    }

    [Fact]
    public void NameDefaultsToTheFileName()
    {
        var profile = SeccompProfileLoader.FromYaml("default_action: allow\n", "/etc/sandbox/mine.yaml");
        Assert.Equal("mine", profile.Name);
        Assert.Empty(profile.Rules);
    }

    [Fact]
    public void Yaml_ToOciJson_AndBack_KeepsTheProfile()
    {
        var profile = SeccompProfileLoader.FromYaml(Valid, "sample.yaml");
        var json = SeccompProfileLoader.ToOciJson(profile);
        var again = SeccompProfileLoader.FromOciJson(json, "sample.json");

        Assert.Equal(profile, again);
        Assert.Equal(SeccompCompiler.Compile(profile).Sha256, SeccompCompiler.Compile(again).Sha256);
    }

    [Theory]
    [InlineData("default_action: allow\nrules:\n  - names: [read]\n    action: allow\n  - names: [write]\n    action: allow\n  - names: [close]\n    action: allow\n  - names: [getpid, foo]\n    action: allow\n",
        "bad.yaml:9:21: rules[3].names[1]: unknown syscall 'foo' for x86_64")]
    [InlineData("default_action: allow\nrules:\n  - names: [read]\n    action: allow\n    args:\n      - { index: 6, op: eq, value: 1 }\n",
        "rules[0].args[0].index: argument index 6 is out of range [0, 5]")]
    [InlineData("default_action: allow\nrules:\n  - names: [read]\n    action: allow\n    args:\n      - { index: 0, op: bigger, value: 1 }\n",
        "rules[0].args[0].op: unknown operator 'bigger' (expected eq, ne, lt, le, gt, ge or masked_eq)")]
    [InlineData("default_action: errno(5000)\n", "default_action: errno 5000 is out of range [1, 4095]")]
    [InlineData("default_action: errno(0)\n", "default_action: errno 0 is out of range [1, 4095]")]
    [InlineData("default_action: errno(EWHAT)\n", "default_action: errno 'EWHAT' is neither a number")]
    [InlineData("default_action: deny\n", "default_action: unknown action 'deny'")]
    [InlineData("rules: []\n", "missing 'default_action'")]
    [InlineData("default_action: allow\nrulez: []\n", "rulez: unknown key 'rulez' (expected one of: name, default_action, rules)")]
    [InlineData("default_action: allow\nrules:\n  - names: [read]\n    action: allow\n  - names: [read]\n    action: errno(1)\n",
        "rules[1].names[0]: 'read' is errno(1) here but rules[0] already decides it unconditionally as allow")]
    [InlineData("default_action: allow\nrules:\n  - names: [read]\n    action: allow\n  - names: [read]\n    action: errno(1)\n    args:\n      - { index: 0, op: eq, value: 3 }\n",
        "rules[1].names[0]: this conditional rule for 'read' can never apply: rules[0] already decides 'read' unconditionally as allow")]
    [InlineData("default_action: allow\nrules:\n  - names: [read]\n    action: allow\n    args:\n      - { index: 0, op: masked_eq, mask: 0xf0, value: 0x0f }\n",
        "rules[0].args[0].value: value 0xf has bits outside mask 0xf0, so 'masked_eq' can never hold")]
    [InlineData("default_action: allow\nrules:\n  - names: [read]\n    action: allow\n    args:\n      - { index: 0, op: eq, value: -1 }\n",
        "rules[0].args[0].value: '-1' is neither a number nor a known constant")]
    [InlineData("default_action: allow\nrules:\n  - names: [read]\n    action: allow\n    args:\n      - { index: 0, op: eq, value: 1, mask: 3 }\n",
        "rules[0].args[0].mask: 'mask' is only used with op masked_eq, not 'eq'")]
    [InlineData("default_action: allow\nrules:\n  - names: []\n    action: allow\n", "rules[0].names: a rule must name at least one syscall")]
    [InlineData("default_action: allow\nrules:\n  - action: allow\n", "(1 error):")]
    [InlineData("default_action: allow\nrules:\n  - action: allow\n", "bad.yaml:3:5: rules[0]: missing 'names' (a list of syscall names)")]
    [InlineData("default_action: [allow\n", "bad.yaml:")]
    public void BadInput_NamesThePlace(string yaml, string expected)
    {
        var error = Assert.Throws<SeccompProfileException>(() => SeccompProfileLoader.FromYaml(yaml, "bad.yaml"));
        Assert.Contains(expected, error.Message);
        Assert.All(error.Errors, e => Assert.Equal("bad.yaml", e.Source));
    }

    [Fact]
    public void AllErrorsAreCollected_IntoOneException()
    {
        const string yaml = """
            default_action: errno(9999)
            rules:
              - names: [read, nope]
                action: allow
              - names: [write]
                action: explode
                args:
                  - { index: 7, op: eq, value: 1 }
            """;

        var error = Assert.Throws<SeccompProfileException>(() => SeccompProfileLoader.FromYaml(yaml, "many.yaml"));

        Assert.Equal(4, error.Errors.Count);
        Assert.Contains("many.yaml:1:17: default_action: errno 9999 is out of range [1, 4095]", error.Message);
        Assert.Contains("many.yaml:3:19: rules[0].names[1]: unknown syscall 'nope' for x86_64", error.Message);
        Assert.Contains("rules[1].action: unknown action 'explode'", error.Message);
        Assert.Contains("rules[1].args[0].index: argument index 7 is out of range [0, 5]", error.Message);
        Assert.Equal([1, 3, 6, 8], error.Errors.Select(e => e.Line));
        Assert.StartsWith("seccomp profile 'many.yaml' is invalid (4 errors):", error.Message);
    }

    [Fact]
    public void SameActionTwice_IsAllowed()
    {
        var profile = SeccompProfileLoader.FromYaml("default_action: allow\nrules:\n  - names: [read]\n    action: log\n  - names: [read, write]\n    action: log\n", "dup.yaml");
        Assert.Equal(2, profile.Rules.Count);
    }

    [Fact]
    public void LoadFile_PicksTheFormatByExtension_AndRejectsOthers()
    {
        var directory = Directory.CreateTempSubdirectory("seccomp-test-");
        try
        {
            var yaml = Path.Combine(directory.FullName, "p.yml");
            File.WriteAllText(yaml, Valid);
            var json = Path.Combine(directory.FullName, "p.json");
            File.WriteAllText(json, SeccompProfileLoader.ToOciJson(SeccompProfileLoader.LoadFile(yaml)));
            var other = Path.Combine(directory.FullName, "p.txt");
            File.WriteAllText(other, Valid);

            Assert.Equal(7, SeccompProfileLoader.LoadFile(json).Rules.Count);
            var error = Assert.Throws<SeccompProfileException>(() => SeccompProfileLoader.LoadFile(other));
            Assert.Contains("unknown profile file extension '.txt' (expected .yaml, .yml or .json)", error.Message);
            var missing = Assert.Throws<SeccompProfileException>(() => SeccompProfileLoader.LoadFile(Path.Combine(directory.FullName, "none.yaml")));
            Assert.Contains("cannot read the file", missing.Message);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
