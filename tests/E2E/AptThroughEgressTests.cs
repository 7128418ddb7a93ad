using Sandbox.Isolation;
using Sandbox.Isolation.Network;

namespace Sandbox.E2E;

/// <summary>A package pulled through the host's apt mirror (read from the machine's apt sources at run time) from
/// inside a sandbox whose egress is that mirror only: the one test that talks to a server outside this host. The
/// host rootfs has no /etc/apt or /var: apt runs as the sandbox's normal user with its directories in /tmp.</summary>
public sealed class AptThroughEgressTests
{
    private const string Package = "hello";

    [EgressFact]
    public async Task Apt_get_download_works_with_egress_to_the_mirror_only()
    {
        if (AptMirror.Find() is not { } mirror)
        {
            Assert.Fail("no http apt mirror in this host's apt sources (/etc/apt/sources.list, sources.list.d)");
            return;
        }
        var spec = new SandboxSpec
        {
            Network = NetworkMode.Egress,
            EgressAllow = [EgressRule.Parse($"{mirror.Host}:{mirror.Port}")],
            Limits = ResourceLimits.Default with { WallTime = TimeSpan.FromSeconds(120), DiskMiB = 256 },
        };
        var script = $"""
            set -e
            A=/tmp/apt; mkdir -p $A/etc/apt.conf.d $A/etc/preferences.d $A/state/lists/partial $A/cache/archives/partial; : > $A/status
            echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {mirror.Uri} {mirror.Suite} {mirror.Component}" > $A/etc/sources.list
            O="-o Dir::Etc=$A/etc -o Dir::Etc::sourcelist=sources.list -o Dir::Etc::sourceparts=- -o Dir::State=$A/state"
            O="$O -o Dir::State::status=$A/status -o Dir::Cache=$A/cache -o Acquire::Languages=none -o Debug::NoLocking=1"
            apt-get -q $O update >/dev/null
            cd /work && apt-get -q $O download {Package} >/dev/null
            ls /work
            """;
        var r = await Harness.RunAsync(ExecutionMode.OneShot, Harness.Sh(script), spec);
        Assert.True(r.Status.ExitCode == 0, $"exit {r.Status.ExitCode}: {r.Stderr}");
        Assert.Matches($"^{Package}_.*_amd64\\.deb$", r.Stdout.Trim());
    }
}
