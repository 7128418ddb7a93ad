using System.Globalization;
using System.Runtime.InteropServices;

namespace Sandbox.Cli.Tests;

/// <summary>The published CLI moves its code and data onto huge pages before it starts (src/Cli/Native/huge-pages.c) and
/// still runs correctly from them; SANDBOX_CLI_HUGE_PAGES=0 keeps the file's pages. Only the NativeAOT binary
/// ($SANDBOX_CLI) has that constructor: with the JIT-run sandbox.dll there is no such image to look at, and the test
/// checks nothing.</summary>
[Collection("cli")]
public sealed partial class HugePagesTests(CliFixture f)
{
    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    [Fact]
    public async Task The_published_CLI_runs_from_huge_pages_unless_told_not_to()
    {
        if (Environment.GetEnvironmentVariable("SANDBOX_CLI") is not { Length: > 0 } published)
            return;
        var offered = !File.ReadAllText("/sys/kernel/mm/transparent_hugepage/enabled").Contains("[never]", StringComparison.Ordinal);
        var on = await HugeKiBWhileRunningAsync(published, new Dictionary<string, string>());
        var off = await HugeKiBWhileRunningAsync(published, new Dictionary<string, string> { ["SANDBOX_CLI_HUGE_PAGES"] = "0" });
        Assert.Equal(0, off);
        if (offered)
            Assert.True(on >= 2048, $"{on} KiB of the image on huge pages");
    }

    /// <summary>Runs a workload that waits, reads how much of the CLI's own image (the anonymous mappings between its
    /// file's mappings: what the constructor put there) is on huge pages, then ends it with SIGTERM (exit 143, as
    /// forwarded) and checks the output came through intact.</summary>
    private async Task<long> HugeKiBWhileRunningAsync(string published, IReadOnlyDictionary<string, string> environment)
    {
        var (p, output) = await CliProcess.StartUntilAsync(f.Socket, environment, "ready", "run", "--trusted", "sh", "-c", "echo ready; sleep 60");
        using (p)
        {
            var huge = ImageHugeKiB(File.ReadAllLines($"/proc/{p.Id}/smaps"), Path.GetFullPath(published));
            Assert.Equal(0, Kill(p.Id, 15));
            using var guard = new CancellationTokenSource(CliProcess.HangGuard);
            await p.WaitForExitAsync(guard.Token);
            Assert.Equal((143, "ready\n"), (p.ExitCode, output.ToString()));
            return huge;
        }
    }

    private static long ImageHugeKiB(string[] smaps, string image)
    {
        var mappings = new List<(ulong Start, ulong End, string Path, long HugeKiB)>();
        foreach (var line in smaps)
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 5 && fields[0].Contains('-', StringComparison.Ordinal) && !fields[0].EndsWith(':'))
            {
                var range = fields[0].Split('-');
                mappings.Add((ulong.Parse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture), ulong.Parse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                    fields.Length >= 6 ? fields[5] : "", 0));
            }
            else if (fields is ["AnonHugePages:", var kib, "kB"] && mappings.Count > 0)
            {
                mappings[^1] = mappings[^1] with { HugeKiB = long.Parse(kib, CultureInfo.InvariantCulture) };
            }
        }
        var own = mappings.Where(m => m.Path == image).ToList();
        Assert.NotEmpty(own);
        var (first, last) = (own.Min(m => m.Start), own.Max(m => m.End));
        return mappings.Where(m => m.Path == "" && m.Start >= first && m.End <= last).Sum(m => m.HugeKiB);
    }
}
