using Sandbox.Policy.Rego;
using Sandbox.SandboxApi.Configuration;
using Sandbox.SyscallFilter;

namespace Sandbox.Fuzz.Tests;

/// <summary>One test per bug the fuzz targets found, with the smallest input that showed it.</summary>
public sealed class FuzzRegressionTests
{
    /// <summary>A document-end marker ("...") inside a flow mapping makes YamlDotNet's scanner throw
    /// InvalidOperationException, not a YamlException: every YAML reader must turn it into its own error.</summary>
    private const string BrokenFlowMapping = "ceilings: {memory_mib: 1, timeou...\nt_s: 2}\n";

    [Fact]
    public void SandboxdYaml_DocumentEndInsideAFlowMapping_IsAConfigError()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(BrokenFlowMapping, "fuzz"));
        Assert.Contains("not valid YAML", e.Message);
    }

    [Fact]
    public void SeccompYaml_DocumentEndInsideAFlowMapping_IsAProfileError()
    {
        var e = Assert.Throws<SeccompProfileException>(() => SeccompProfileLoader.FromYaml(BrokenFlowMapping, "fuzz.yaml"));
        Assert.Contains("not valid YAML", e.Message);
    }

    [Fact]
    public void RegoYamlData_DocumentEndInsideAFlowMapping_IsABundleError() =>
        Assert.Throws<RegoException>(() => RegoBundle.FromFiles([("data.yaml", BrokenFlowMapping)]));

    [Theory]
    [InlineData("\"\"")]
    [InlineData("\"77777777777\"")]
    [InlineData("\"-1\"")]
    [InlineData("\"0x1ff\"")]
    public void SandboxdYaml_UnixModeThatIsNoOctalNumber_IsAConfigError(string mode)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse($"listen:\n  unix_mode: {mode}\n", "fuzz"));
        Assert.Contains("listen.unix_mode: expected permission bits in octal", e.Message);
    }

    /// <summary>An empty key followed only by a comment at the end of a mapping makes YamlDotNet's loader throw
    /// ArgumentException ("the current event is of an unsupported type").</summary>
    private const string EmptyKeyThenComment = "log:\n  level: information\n:   # json_file: x\n";

    [Fact]
    public void SandboxdYaml_EmptyKeyThenComment_IsAConfigError() =>
        Assert.Contains("not valid YAML", Assert.Throws<ConfigException>(() => ConfigLoader.Parse(EmptyKeyThenComment, "fuzz")).Message);

    [Fact]
    public void SeccompYaml_EmptyKeyThenComment_IsAProfileError() =>
        Assert.Throws<SeccompProfileException>(() => SeccompProfileLoader.FromYaml(EmptyKeyThenComment, "fuzz.yaml"));

    [Fact]
    public void RegoYamlData_EmptyKeyThenComment_IsABundleError() =>
        Assert.Throws<RegoException>(() => RegoBundle.FromFiles([("data.yaml", EmptyKeyThenComment)]));
}
