using Sandbox.Isolation.Agent;
using System.Diagnostics;
using Sandbox.Isolation.Container;
using Sandbox.Isolation.Cgroups;
using Sandbox.Isolation.MicroVm;

namespace Sandbox.Isolation.Host;

/// <summary>What this host supports, checked for real (files, versions, a probe run), for `sandbox doctor` and for
/// the environment part of policy input.</summary>
public static class HostProbe
{
    public sealed record Check(string Name, bool Ok, string Detail);

    public static IReadOnlyList<Check> Run(BubblewrapOptions? options = null, MicroVmOptions? vmOptions = null)
    {
        options ??= new BubblewrapOptions();
        var checks = new List<Check>
        {
            new("kernel", true, Environment.OSVersion.Version.ToString() + " (" + ReadTrim("/proc/sys/kernel/osrelease") + ")"),
            new("running as root", Environment.IsPrivilegedProcess, Environment.IsPrivilegedProcess ? "yes" : "no: the container tier needs root"),
            UserNamespaces(),
            Cgroups(options),
            Seccomp(),
            Bwrap(options),
            new("setpriv", File.Exists(options.SetprivPath), File.Exists(options.SetprivPath) ? options.SetprivPath : $"missing at {options.SetprivPath} (util-linux)"),
            Agent(options),
            Qemu(vmOptions),
            GuestKernel(),
            Kvm(vmOptions),
        };
        return checks;
    }

    private static Check UserNamespaces()
    {
        var max = ReadTrim("/proc/sys/user/max_user_namespaces");
        var clone = ReadTrim("/proc/sys/kernel/unprivileged_userns_clone");
        if (max == "0")
            return new("user namespaces", false, "disabled: user.max_user_namespaces = 0");
        if (clone == "0")
            return new("user namespaces", false, "unprivileged user namespaces are off: kernel.unprivileged_userns_clone = 0");
        return new("user namespaces", max is not null, $"max_user_namespaces = {max ?? "unknown"}");
    }

    /// <summary>Not just which controllers are listed: a probe cgroup is created (controllers enabled on the way) and
    /// removed, as root; the detail says why it cannot be where it fails.</summary>
    private static Check Cgroups(BubblewrapOptions options)
    {
        var layout = CgroupLayout.Host;
        if (layout.Version == CgroupVersion.None || !Environment.IsPrivilegedProcess)
            return new("cgroups", false, layout.Version == CgroupVersion.None ? layout.Describe() : $"{layout.Describe()}; not probed: needs root");
        var probe = CgroupProbe.Run(layout, options.CgroupParent);
        return new("cgroups", probe.Ok, probe.Detail);
    }

    private static Check Seccomp()
    {
        var status = File.Exists("/proc/self/status") ? File.ReadAllText("/proc/self/status") : "";
        var ok = status.Contains("Seccomp:", StringComparison.Ordinal);
        var actions = ReadTrim("/proc/sys/kernel/seccomp/actions_avail");
        return new("seccomp", ok, ok ? $"filter mode available; actions: {actions}" : "the kernel reports no seccomp support");
    }

    private static Check Bwrap(BubblewrapOptions options)
    {
        if (!File.Exists(options.BwrapPath))
            return new("bubblewrap", false, $"missing at {options.BwrapPath} (apt-get install bubblewrap)");
        var version = RunForOutput(options.BwrapPath, "--version");
        return new("bubblewrap", version is not null, version ?? "does not run");
    }

    private static Check Agent(BubblewrapOptions options)
    {
        var bundle = AgentBundle.TryLocate(options.AgentDirectory);
        return bundle is null
            ? new("sandbox agent", false, $"not found (scripts/build-agent.sh, or set {AgentBundle.EnvironmentVariable})")
            : new("sandbox agent", true, bundle.Directory);
    }

    /// <summary>KVM is "usable" only where a guest really boots: the microVM tier's probe decides (a probe boot of the
    /// real guest under -accel kvm, skipped with the reason where /dev/kvm or the vmx/svm flag is missing; cached in
    /// /var/cache/sandbox/accel-probe). "ok" means KVM; otherwise microVMs run under TCG and the detail says why.</summary>
    public static Check Kvm(MicroVmOptions? options = null)
    {
        var driver = new MicroVmDriver(options);
        if (AcceleratorProbe.StaticReason() is { } why)
            return new("kvm", false, $"accel: tcg ({why})");
        try
        {
            var result = driver.ProbeAcceleratorAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
            return new("kvm", result.Accelerator == Accelerator.Kvm, $"accel: {result.Accelerator.ToString().ToLowerInvariant()} ({result.Reason})");
        }
        catch (Exception e) when (e is SandboxException or TimeoutException)
        {
            return new("kvm", false, $"accel: tcg (the probe did not finish: {e.Message})");
        }
    }

    private static Check GuestKernel()
    {
        try
        {
            var kernel = Sandbox.Isolation.MicroVm.Kernel.GuestKernel.Locate(new MicroVmOptions().KernelCacheDirectory);
            return new("guest kernel", true, $"{kernel.Version} ({kernel.VmlinuxPath})");
        }
        catch (SandboxException e)
        {
            return new("guest kernel", false, e.Message);
        }
    }

    /// <summary>The QEMU the microVM tier runs (<see cref="MicroVmOptions.QemuPath"/>: bookworm-backports' QEMU 10
    /// where scripts/install-qemu-backports.sh installed it, the system's otherwise), its version, and what follows:
    /// the unpacked copy gets no apt upgrades (rerunning the script does); on the system QEMU, that QEMU 10 is missing
    /// (isolation is the same, execs under TCG are slower).</summary>
    public static Check Qemu(MicroVmOptions? options = null)
    {
        var path = (options ?? new MicroVmOptions()).QemuPath;
        if (!File.Exists(path))
            return new("qemu", false, $"{path} not installed (needed by the microVM tier: apt-get install qemu-system-x86)");
        try
        {
            QemuInstall.Locate(path, checkOwner: true);
        }
        catch (SandboxException e)
        {
            return new("qemu", false, e.Message);
        }
        if (RunForOutput(path, "--version")?.Split('\n')[0] is not { } version)
            return new("qemu", false, $"{path} does not run");
        return new("qemu", true, path switch
        {
            QemuInstall.BackportsBinary => $"{version} at {path}: bookworm-backports, unpacked, so apt does not upgrade it; " +
                "scripts/install-qemu-backports.sh does (--check compares it with the mirror)",
            QemuInstall.SystemBinary when !File.Exists(QemuInstall.BackportsBinary) => $"{version} at {path}, the system's: " +
                "bookworm-backports' QEMU 10 is not installed (scripts/install-qemu-backports.sh; it gives the same isolation and runs microVM execs under TCG ~2x faster)",
            _ => $"{version} at {path}",
        });
    }

    private static string? ReadTrim(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static string? RunForOutput(string program, string argument)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(program, argument) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            var output = process.StandardOutput.ReadToEnd().Trim();
            process.WaitForExit();
            return process.ExitCode == 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}
