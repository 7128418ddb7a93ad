using System.Diagnostics;
using Sandbox.Isolation.Container;
using Sandbox.Isolation.Container.Cgroups;

namespace Sandbox.Isolation.Host;

/// <summary>What this host supports, checked for real (files, versions, a probe run), for `sandbox doctor` and for
/// the environment part of policy input.</summary>
public static class HostProbe
{
    public sealed record Check(string Name, bool Ok, string Detail);

    public static IReadOnlyList<Check> Run(BubblewrapOptions? options = null)
    {
        options ??= new BubblewrapOptions();
        var checks = new List<Check>
        {
            new("kernel", true, Environment.OSVersion.Version.ToString() + " (" + ReadTrim("/proc/sys/kernel/osrelease") + ")"),
            new("running as root", Environment.IsPrivilegedProcess, Environment.IsPrivilegedProcess ? "yes" : "no: the container tier needs root"),
            UserNamespaces(),
            Cgroups(),
            Seccomp(),
            Bwrap(options),
            new("setpriv", File.Exists(options.SetprivPath), File.Exists(options.SetprivPath) ? options.SetprivPath : $"missing at {options.SetprivPath} (util-linux)"),
            Agent(options),
            Kvm(),
            Qemu(),
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

    private static Check Cgroups()
    {
        var layout = CgroupLayout.Host;
        return new("cgroups", layout.Version != CgroupVersion.None, layout.Describe());
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

    /// <summary>KVM is "usable" only where a guest really boots; /dev/kvm alone proves nothing (nested PVM hosts
    /// expose one that cannot run a stock kernel). Without a boot probe this reports what the host advertises.</summary>
    public static Check Kvm()
    {
        if (!File.Exists("/dev/kvm"))
            return new("kvm", false, "no /dev/kvm: microVMs would run under TCG (software emulation)");
        var cpuinfo = File.Exists("/proc/cpuinfo") ? File.ReadAllText("/proc/cpuinfo") : "";
        var flags = cpuinfo.Split('\n').FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal)) ?? "";
        var hasVirt = flags.Contains(" vmx", StringComparison.Ordinal) || flags.Contains(" svm", StringComparison.Ordinal);
        if (!hasVirt)
            return new("kvm", false, "/dev/kvm exists but the CPU has no vmx/svm flag (a nested PVM host?): a stock guest cannot boot under it, microVMs would run under TCG");
        return new("kvm", true, "/dev/kvm and vmx/svm present (a probe boot decides when the microVM tier starts)");
    }

    private static Check Qemu()
    {
        const string path = "/usr/bin/qemu-system-x86_64";
        if (!File.Exists(path))
            return new("qemu", false, "qemu-system-x86_64 not installed (needed by the microVM tier)");
        var version = RunForOutput(path, "--version");
        return new("qemu", version is not null, version?.Split('\n')[0] ?? "does not run");
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
