namespace Sandbox.CiRunner.Tests;

/// <summary>actions/cache round trip: a first run saves a nested directory under HOME (~/.deps/pkgs, as
/// ~/.nuget/packages), the next run of the same repository restores it, parents made, and reports cache-hit.</summary>
[Collection("sandboxes")]
public sealed class CacheRestoreTests
{
    private const string Workflow = """
        jobs:
          deps:
            runs-on: ubuntu-latest
            steps:
              - id: cache
                uses: actions/cache@v4
                with:
                  path: ~/.deps/pkgs
                  key: deps-1
              - run: |
                  echo "hit=${{ steps.cache.outputs.cache-hit }}"
                  if [ -f ~/.deps/pkgs/a/package.txt ]; then echo "restored: $(cat ~/.deps/pkgs/a/package.txt)"; fi
                  mkdir -p ~/.deps/pkgs/a && echo fetched-once > ~/.deps/pkgs/a/package.txt
        """;

    [SandboxFact]
    public async Task A_nested_cache_directory_saved_by_one_run_is_restored_by_the_next()
    {
        await using var h = new CiHarness();
        var first = await h.RunAsync(Workflow);
        Assert.True(first.Succeeded, h.Observer.Text);
        Assert.Contains("hit=false", h.Observer.Text);
        Assert.Contains("cache saved with key 'deps-1'", h.Observer.Text);

        var second = await h.RunAsync(Workflow);
        Assert.True(second.Succeeded, h.Observer.Text);
        Assert.Contains("hit=true", h.Observer.Text);
        Assert.Contains("restored: fetched-once", h.Observer.Text);
    }
}
