using Sandbox.SandboxApi.Configuration;
using Sandbox.SandboxApi.Hosting;

namespace Sandbox.SandboxApi.Tests;

/// <summary>images.store_dir: where `image` in CreateSandboxRequest is resolved (docs/sandboxd.md).</summary>
public sealed class ImageStoreConfigTests
{
    [Fact]
    public void The_store_dir_reaches_cores_options()
    {
        var config = ConfigLoader.Parse("images:\n  store_dir: /srv/sandbox-images\n");
        Assert.Equal("/srv/sandbox-images", config.ToCoreOptions().Images.Root);
        Assert.Equal("/var/cache/sandbox/images", ConfigLoader.Parse("state_dir: /var/lib/sandboxd\n").ToCoreOptions().Images.Root);
    }

    [Fact]
    public void A_relative_store_dir_or_an_unknown_key_is_refused_naming_it()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse("images:\n  store_dir: images\n"));
        Assert.Contains("images.store_dir: 'images' must be an absolute path", e.Message);
        e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse("images:\n  store: /srv/x\n"));
        Assert.Contains("store", e.Message);
    }
}
