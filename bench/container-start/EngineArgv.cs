using System.Text;
using Sandbox.Isolation;

namespace Sandbox.Bench.ContainerStart;

/// <summary>The exact launcher chain the engine runs (prlimit → setpriv → bwrap with the same namespaces and mounts),
/// read back from inside a sandbox (/proc/1/cmdline is bwrap's own command line there), minus the options that need
/// the engine's descriptors (seccomp program, status and block sockets, generated /etc files).</summary>
internal static class EngineArgv
{
    public static async Task<string[]> CaptureAsync(ISandboxDriver driver)
    {
        var stdout = new MemoryStream();
        await driver.RunAsync(new SandboxSpec(), new ProcessSpec { Argv = ["cat", "/proc/1/cmdline"] }, new ProcessIO { Stdout = stdout }, CancellationToken.None);
        var bwrap = Encoding.UTF8.GetString(stdout.ToArray()).Split('\0', StringSplitOptions.RemoveEmptyEntries);
        var kept = new List<string>();
        for (var i = 0; i < bwrap.Length; i++)
        {
            switch (bwrap[i])
            {
                case "--seccomp" or "--json-status-fd" or "--block-fd": i++; continue;
                case "--ro-bind-data": i += 2; continue;
                case "--": kept.AddRange(["--", "true"]); i = bwrap.Length; continue;
                default: kept.Add(bwrap[i]); break;
            }
        }
        return ["/usr/bin/prlimit", "--nofile=1024:1024", "--fsize=268435456:268435456", "--core=0:0", "--",
            "/usr/bin/setpriv", "--reuid=265500", "--regid=265500", "--clear-groups", "--", .. kept];
    }
}
