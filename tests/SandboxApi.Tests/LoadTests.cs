using System.Diagnostics;
using Sandbox.Api.V1;
using static Sandbox.SandboxApi.Tests.Streams;

namespace Sandbox.SandboxApi.Tests;

[Collection("sandboxd")]
public sealed class LoadTests(SharedServer shared)
{
    [Fact]
    public async Task TwoHundredConcurrentRuns_AllCorrect_NothingLeaks()
    {
        var s = shared.Server;
        var bwrapBefore = BwrapChildren();
        var runs = Enumerable.Range(0, 200).Select(i => RunAsync(s.Client, Process("/bin/sh", "-c", $"echo run-{i}"))).ToList();
        var results = await Task.WhenAll(runs);
        for (var i = 0; i < results.Length; i++)
        {
            Assert.Equal($"run-{i}\n", results[i].Stdout);
            Assert.Equal(0, results[i].Exit!.ExitCode);
        }
        var sw = Stopwatch.StartNew();
        while ((s.CgroupLeftovers().Count > 0 || BwrapChildren() > bwrapBefore) && sw.Elapsed < TimeSpan.FromSeconds(60))
            await Task.Delay(50);
        Assert.Empty(s.CgroupLeftovers());
        Assert.Equal(bwrapBefore, BwrapChildren());
    }

    /// <summary>bwrap processes whose parent is this test process (sandboxd runs in it).</summary>
    internal static int BwrapChildren()
    {
        var me = Environment.ProcessId.ToString();
        var count = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out _))
                continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var close = stat.LastIndexOf(')');
                var fields = stat[(close + 2)..].Split(' ');
                if (fields[1] == me && stat.Contains("(bwrap)", StringComparison.Ordinal))
                    count++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Exited meanwhile.
            }
        }
        return count;
    }
}
