using Sandbox.SandboxApi.Configuration;
using Sandbox.SandboxApi.Hosting;

namespace Sandbox.SandboxApi.Tests;

/// <summary>sandboxd's microvm: keys of the restored clones' TCG translation buffer (docs/sandboxd.md) reach the tier's
/// options.</summary>
public sealed class MicroVmConfigTests
{
    [Fact]
    public void A_clones_translation_cache_and_its_huge_pages_reach_the_tiers_options()
    {
        var options = ConfigLoader.Parse("microvm:\n  clone_translation_cache_mib: 16\n  translation_buffer_huge_pages: false\n")
            .ToMicroVmOptions(agentDirectory: "/opt/agent");
        Assert.Equal(16, options.CloneTcgTranslationCacheMiB);
        Assert.False(options.TranslationBufferHugePages);
        Assert.Equal("/opt/agent", options.AgentDirectory);
        Assert.Equal(64, options.TcgTranslationCacheMiB); // a cold boot's buffer is not the clone's

        var defaults = ConfigLoader.Parse("state_dir: /var/lib/sandboxd\n").ToMicroVmOptions(agentDirectory: null);
        Assert.Equal(new Sandbox.Isolation.MicroVm.MicroVmOptions().CloneTcgTranslationCacheMiB, defaults.CloneTcgTranslationCacheMiB);
        Assert.True(defaults.TranslationBufferHugePages);
        Assert.Equal("/var/lib/sandboxd/vm", defaults.StateDirectory);
        Assert.Equal("sandboxd-vm", defaults.CgroupParent);
    }

    [Fact]
    public void A_clones_translation_cache_out_of_range_is_refused_naming_the_key()
    {
        foreach (var size in new[] { "0", "4096" })
        {
            var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse($"microvm:\n  clone_translation_cache_mib: {size}\n"));
            Assert.Contains($"microvm.clone_translation_cache_mib: {size} is out of range [1, 2048]", e.Message);
        }
    }
}
