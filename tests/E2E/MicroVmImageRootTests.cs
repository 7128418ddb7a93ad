using System.Text;
using Sandbox.Isolation;
using Sandbox.Isolation.MicroVm;

namespace Sandbox.E2E;

/// <summary>An image root in a microVM: the erofs disk under an overlay in the guest whose upper is a tmpfs capped at
/// the disk size, set up in the snapshot template and fresh (empty, its own size) in every clone; and the workload's
/// user, root included, with the capabilities the guest agent leaves it.</summary>
public sealed class MicroVmImageRootTests(BusyboxImage busybox) : IClassFixture<BusyboxImage>
{
    private static MicroVmDriver Driver => Harness.VmDriver;
    private static readonly TimeSpan s_hangGuard = TimeSpan.FromMinutes(4);

    /// <summary>CapEff/CapPrm/CapBnd of guest root as /proc/PID/status prints them: CHOWN, DAC_OVERRIDE, FOWNER,
    /// FSETID, KILL, SETGID, SETUID, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, AUDIT_WRITE, SETFCAP.</summary>
    private const string GuestRootCaps = "00000000a00405fb";

    private async Task<SandboxSpec> SpecAsync(SandboxUser? user, long diskMiB = 16)
    {
        var image = await busybox.GetAsync();
        return new SandboxSpec
        {
            Rootfs = RootfsSpec.Image(image.RootfsDirectory, image.RootfsKey),
            Env = image.Record.Defaults.EnvMap(),
            User = user,
            Limits = ResourceLimits.Default with { DiskMiB = diskMiB },
        };
    }

    private static async Task<string> Exec(ISandbox sandbox, string script, CancellationToken cancellationToken)
    {
        var stdout = new MemoryStream();
        var stderr = new MemoryStream();
        var p = await sandbox.ExecAsync(Harness.Sh(script), new ProcessIO { Stdout = stdout, Stderr = stderr }, cancellationToken);
        var status = await p.WaitAsync(cancellationToken);
        Assert.True(status.ExitCode == 0, $"'{script}' exited with {status.ExitCode}: {Encoding.UTF8.GetString(stderr.ToArray())}");
        return Encoding.UTF8.GetString(stdout.ToArray());
    }

    [BusyboxFact]
    public async Task Root_writes_the_image_into_its_own_upper_and_two_clones_of_one_template_never_share_it()
    {
        using var guard = new CancellationTokenSource(s_hangGuard);
        var image = await busybox.GetAsync();
        var spec = await SpecAsync(SandboxUser.Root);
        string stateA, stateB;
        await using (var a = (MicroVmSandbox)await Driver.CreateAsync(spec, guard.Token))
        {
            Assert.NotNull(a.Template);
            stateA = a.Instance.Directory;
            Assert.Equal("0\nchanged\nnew 0:0\noverlay nosuid nodev\n", await Exec(a, """
                id -u
                echo changed > /etc/image-marker && cat /etc/image-marker
                touch /bin/new && stat -c 'new %u:%g' /bin/new
                busybox awk '$2 == "/etc" { print $3, ($4 ~ /nosuid/ ? "nosuid" : $4), ($4 ~ /nodev/ ? "nodev" : $4) }' /proc/mounts
                """, guard.Token));

            await using var b = (MicroVmSandbox)await Driver.CreateAsync(spec with { Id = SandboxId.New(), Limits = spec.Limits with { DiskMiB = 8 } }, guard.Token);
            stateB = b.Instance.Directory;
            Assert.Equal(a.Template, b.Template);
            var seen = (await Exec(b, "cat /etc/image-marker; [ -e /bin/new ] && echo has-new || echo no-new; df -k /etc | tail -n 1", guard.Token)).Split('\n');
            Assert.Equal("from the image", seen[0]); // a's write is a's alone
            Assert.Equal("no-new", seen[1]);
            Assert.Equal("8192", seen[2].Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]); // b's disk size, not the template's
            Assert.Equal("changed\n", await Exec(a, "cat /etc/image-marker", guard.Token));
        }
        // The uppers were guest RAM: nothing of either VM is left on the host, and the store never saw the writes.
        Assert.False(Directory.Exists(stateA), stateA);
        Assert.False(Directory.Exists(stateB), stateB);
        Assert.Equal("from the image\n", await File.ReadAllTextAsync(Path.Combine(image.RootfsDirectory, "etc/image-marker")));
        Assert.False(File.Exists(Path.Combine(image.RootfsDirectory, "bin/new")));
    }

    [BusyboxFact]
    public async Task Guest_root_keeps_only_its_few_capabilities_and_any_other_user_none_both_under_seccomp()
    {
        using var guard = new CancellationTokenSource(s_hangGuard);
        const string show = "grep -E '^(Uid|Gid|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\\t' ' '; " +
            "busybox mount -t tmpfs none /tmp 2>/dev/null && echo mounted || echo mount-refused";
        await using (var root = await Driver.CreateAsync(await SpecAsync(SandboxUser.Root), guard.Token))
        {
            Assert.Equal($"""
                Uid: 0 0 0 0
                Gid: 0 0 0 0
                CapInh: 0000000000000000
                CapPrm: {GuestRootCaps}
                CapEff: {GuestRootCaps}
                CapBnd: {GuestRootCaps}
                CapAmb: 0000000000000000
                NoNewPrivs: 1
                Seccomp: 2
                mount-refused

                """, await Exec(root, show, guard.Token));
        }
        await using var user = await Driver.CreateAsync(await SpecAsync(new SandboxUser(1234, 4321)), guard.Token);
        Assert.Equal("""
            Uid: 1234 1234 1234 1234
            Gid: 4321 4321 4321 4321
            CapInh: 0000000000000000
            CapPrm: 0000000000000000
            CapEff: 0000000000000000
            CapBnd: 0000000000000000
            CapAmb: 0000000000000000
            NoNewPrivs: 1
            Seccomp: 2
            mount-refused

            """, await Exec(user, show, guard.Token));
    }
}

/// <summary>Reported as skipped, with the reason, where busybox-static is not installed.</summary>
public sealed class BusyboxFactAttribute : FactAttribute
{
    public BusyboxFactAttribute()
    {
        if (BusyboxImage.Missing is { } reason)
            Skip = reason;
    }
}
