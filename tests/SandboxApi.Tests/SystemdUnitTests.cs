using Sandbox.Isolation.Container;
using Sandbox.Isolation.MicroVm;
using Sandbox.SandboxApi.Configuration;

namespace Sandbox.SandboxApi.Tests;

/// <summary>systemd/sandboxd.service against what sandboxd does: under ProtectSystem=strict every directory it writes
/// by default must be writable, and the cgroup and stop settings must be the ones docs/sandboxd.md relies on (a crash
/// must never kill sandboxes; restart and stop are told apart by the ExecStop helper that install-service.sh installs).
/// The unit running under real systemd is the guest-VM matrix's job; this catches drift on every run.</summary>
public sealed class SystemdUnitTests
{
    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Sandbox.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException("Sandbox.sln not found above the test binaries");
    }

    private static ILookup<string, string> Unit() => File.ReadAllLines(Path.Combine(RepoRoot(), "systemd", "sandboxd.service"))
        .Select(l => l.Trim())
        .Where(l => l.Length > 0 && !l.StartsWith('#') && !l.StartsWith('[') && l.Contains('='))
        .ToLookup(l => l[..l.IndexOf('=')], l => l[(l.IndexOf('=') + 1)..]);

    private static IReadOnlyList<string> Writable(ILookup<string, string> unit) =>
    [
        .. unit["ReadWritePaths"].SelectMany(v => v.Split(' ', StringSplitOptions.RemoveEmptyEntries)),
        .. unit["StateDirectory"].Select(d => "/var/lib/" + d),
        .. unit["CacheDirectory"].Select(d => "/var/cache/" + d),
        .. unit["RuntimeDirectory"].Select(d => "/run/" + d),
    ];

    private static bool Under(string path, IEnumerable<string> roots) =>
        roots.Any(r => path == r || path.StartsWith(r.TrimEnd('/') + "/", StringComparison.Ordinal));

    [Fact]
    public void Everything_sandboxd_writes_by_default_is_writable_under_ProtectSystem_strict()
    {
        var unit = Unit();
        Assert.Equal("strict", Assert.Single(unit["ProtectSystem"]));
        var writable = Writable(unit);
        var config = new SandboxdConfig();
        var written = new[]
        {
            config.StateDir,                                   // records, agent channels
            Path.GetDirectoryName(config.Listen.UnixPath)!,    // the socket
            new BubblewrapOptions().CacheDirectory,            // prepared guest /etc
            new MicroVmOptions().CacheDirectory,               // initramfs, snapshot templates
            "/sys/fs/cgroup",                                  // sandbox cgroups
        };
        Assert.All(written, p => Assert.True(Under(p, writable), $"{p} is written by sandboxd but read-only in the unit ({string.Join(", ", writable)})"));
    }

    [Fact]
    public void A_crash_never_kills_sandboxes_and_stop_is_told_from_restart()
    {
        var unit = Unit();
        Assert.Equal("yes", Assert.Single(unit["Delegate"]));
        Assert.Equal("daemon", Assert.Single(unit["DelegateSubgroup"]));
        Assert.Equal("process", Assert.Single(unit["KillMode"]));
        Assert.Empty(unit["ExecStartPre"]); // it would run in the unit's root cgroup, refused while sandboxes survive
        Assert.Empty(unit["ProtectHostname"]);
        var stop = Assert.Single(unit["ExecStop"]);
        Assert.StartsWith("/usr/local/lib/sandbox/sandboxd-stop $MAINPID", stop);
        Assert.True(File.Exists(Path.Combine(RepoRoot(), "systemd", "sandboxd-stop")));
        Assert.Contains("/usr/local/lib/sandbox/sandboxd-stop", File.ReadAllText(Path.Combine(RepoRoot(), "scripts", "install-service.sh")));
    }

    [Fact]
    public void The_service_has_memory_and_task_ceilings()
    {
        var unit = Unit();
        var memory = Assert.Single(unit["MemoryMax"]);
        var tasks = Assert.Single(unit["TasksMax"]);
        Assert.NotEqual("infinity", memory);
        Assert.NotEqual("infinity", tasks);
        Assert.Matches(@"^\d+(%|[KMGT])?$", memory);
        Assert.Matches(@"^\d+%?$", tasks);
    }
}
