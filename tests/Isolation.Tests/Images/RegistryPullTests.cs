using Sandbox.Isolation.Images;
using static Sandbox.Isolation.Tests.Images.TestLayers;

namespace Sandbox.Isolation.Tests.Images;

/// <summary>Pulls from a real registry (Debian's docker-registry on loopback, bearer-token auth) that skopeo pushed
/// test images to.</summary>
public sealed class RegistryPullTests(LoopbackRegistry registry) : IClassFixture<LoopbackRegistry>
{
    private static readonly CancellationToken None = CancellationToken.None;

    [RegistryFact]
    public async Task Pull_by_tag_goes_through_bearer_auth_and_unpacks_the_image()
    {
        using var t = new TempStore();
        var layout = WriteLayout(t.NewInput("layout"), [Tar(Dir("bin"), File("bin/hello", "pulled")), Tar(File("second", "2"))],
            runtime: new Sandbox.Isolation.Images.OciRuntimeConfig { Env = ["PATH=/bin"], Cmd = ["/bin/hello"] });
        await registry.PushAsync(layout, "test/hello:1");
        var before = registry.TokensIssued;

        var record = await t.Store.PullAsync($"{registry.Host}/test/hello:1", null, null, None);

        Assert.True(registry.TokensIssued > before, "the pull never asked the token service");
        Assert.Equal([$"{registry.Host}/test/hello:1"], record.Names);
        Assert.Equal(["/bin/hello"], record.Defaults.Cmd);
        Assert.NotNull(record.ManifestDigest);
        var root = t.Store.Resolve($"{registry.Host}/test/hello:1").RootfsDirectory;
        Assert.Equal("pulled", System.IO.File.ReadAllText(Path.Combine(root, "bin/hello")));
        Assert.Equal("2", System.IO.File.ReadAllText(Path.Combine(root, "second")));

        // By digest, under another name: the same image, nothing fetched twice.
        var again = await t.Store.PullAsync($"{registry.Host}/test/hello@{record.ManifestDigest}", "hello:pinned", null, None);
        Assert.Equal(record.Id, again.Id);
    }

    [RegistryFact]
    public async Task Pull_of_an_index_takes_the_linux_amd64_image()
    {
        using var t = new TempStore();
        await registry.PushAsync(WriteMultiArchLayout(t.NewInput("multi"), "multi"), "test/multi:1", all: true);

        await t.Store.PullAsync($"{registry.Host}/test/multi:1", "multi:1", null, None);

        Assert.Equal("amd64", System.IO.File.ReadAllText(Path.Combine(t.Store.Resolve("multi:1").RootfsDirectory, "arch")));
    }

    [RegistryFact]
    public async Task Pull_of_a_missing_tag_is_not_found_and_leaves_nothing()
    {
        using var t = new TempStore();
        var e = await Assert.ThrowsAsync<SandboxException>(() => t.Store.PullAsync($"{registry.Host}/test/none:1", null, null, None));
        Assert.Equal(SandboxErrorCode.NotFound, e.Code);
        Assert.Contains("manifest 1", e.Message);
        t.AssertNothingLeft();
    }

    [Theory]
    [InlineData("busybox:latest", "does not start with a registry")]
    [InlineData("127.0.0.1:5000/UPPER:1", "lowercase")]
    [InlineData("127.0.0.1:5000/x@sha256:abc", "not a digest")]
    public void References_without_a_registry_or_malformed_are_refused(string reference, string why)
    {
        var e = Assert.Throws<SandboxException>(() => RegistryReference.Parse(reference));
        Assert.Contains(why, e.Message);
    }

    [Fact]
    public void Loopback_registries_use_http_and_others_https()
    {
        Assert.Equal("http", RegistryReference.Parse("127.0.0.1:5000/a:1").BaseUri.Scheme);
        Assert.Equal("http", RegistryReference.Parse("localhost:5000/a").BaseUri.Scheme);
        Assert.Equal("https", RegistryReference.Parse("registry.example.test/a").BaseUri.Scheme);
    }

    [Fact]
    public void Bearer_challenge_parameters_are_parsed_with_quoted_commas()
    {
        var p = RegistryClient.ParseChallenge("realm=\"http://h/token\",service=\"reg\",scope=\"repository:a/b:pull,push\"");
        Assert.Equal("http://h/token", p["realm"]);
        Assert.Equal("repository:a/b:pull,push", p["scope"]);
    }
}

/// <summary>Skipped, with the reason, where docker-registry or skopeo is not installed.</summary>
public sealed class RegistryFactAttribute : FactAttribute
{
    public RegistryFactAttribute()
    {
        if (LoopbackRegistry.MissingTool is { } reason)
            Skip = reason;
    }
}
