using System.Runtime.InteropServices;
using Sandbox.Agent.Interop;

namespace Sandbox.Agent;

/// <summary>
/// The agent as PID 1 of a microVM guest, before it serves anything: mounts /proc, /sys, /dev (devtmpfs) and the
/// cgroup2 hierarchy, loads the kernel modules shipped in the initramfs (in the order the host computed from their
/// "depends="), and finds the virtio-serial port the host named <see cref="PortName"/>. The sandbox root is built
/// later, on the host's SetupGuest call (<see cref="GuestSetup"/>), so a snapshot taken at "ready" holds no 9p mount.
/// </summary>
internal static unsafe class GuestInit
{
    /// <summary>The virtio-serial port name the host gives the agent channel (virtserialport name=...).</summary>
    public const string PortName = "sandbox.agent";

    /// <summary>Module files and their load order, as written into the initramfs by the host.</summary>
    public const string ModuleDirectory = "/modules";
    public const string ModuleOrderFile = "/modules/order";

    private static readonly TimeSpan s_portTimeout = TimeSpan.FromSeconds(20);

    /// <returns>The device path of the agent's virtio-serial port.</returns>
    public static string Boot()
    {
        // hidepid=invisible: the workload (uid 1000) sees only its own processes, as in a container's pid namespace;
        // the agent and the kernel's threads are root's.
        Mount("proc", "/proc", "proc", Libc.MS_NOSUID | Libc.MS_NODEV | Libc.MS_NOEXEC, "hidepid=invisible");
        Mount("sysfs", "/sys", "sysfs", Libc.MS_NOSUID | Libc.MS_NODEV | Libc.MS_NOEXEC, null);
        Mount("devtmpfs", "/dev", "devtmpfs", Libc.MS_NOSUID, "mode=0755");
        BootTimeline.MarkKernelStages();
        // Terminals for execs with a tty (devtmpfs's /dev/ptmx opens the devpts instance mounted next to it).
        Directory.CreateDirectory("/dev/pts");
        Mount("devpts", "/dev/pts", "devpts", Libc.MS_NOSUID | Libc.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
        Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", Libc.MS_NOSUID | Libc.MS_NODEV | Libc.MS_NOEXEC, null);
        BootTimeline.Mark("init-mounts");
        LoadModules();
        BootTimeline.Mark("modules");
        Harden();
        GuestSetup.PrepareCgroup();
        BootTimeline.Mark("cgroup");
        var port = FindPort();
        BootTimeline.Mark("port-found");
        return port;
    }

    /// <summary>Kernel settings that keep the kernel's layout and log from the workload, whatever it runs: no kernel
    /// pointers in /proc (KASLR stays secret), no dmesg, no perf events, no unprivileged BPF or userfaultfd (the
    /// seccomp profile refuses those too). Written before "ready", so a snapshot template holds them.</summary>
    private static readonly (string Path, string Value)[] s_sysctls =
    [
        ("/proc/sys/kernel/kptr_restrict", "2"),
        ("/proc/sys/kernel/dmesg_restrict", "1"),
        ("/proc/sys/kernel/perf_event_paranoid", "3"),
        ("/proc/sys/kernel/unprivileged_bpf_disabled", "1"),
        ("/proc/sys/vm/unprivileged_userfaultfd", "0"),
    ];

    private static void Harden()
    {
        foreach (var (path, value) in s_sysctls)
        {
            if (File.Exists(path)) File.WriteAllText(path, value);
        }
    }

    /// <summary>Kills what is left, flushes, and ends the machine: power-off through ACPI, or, on a kernel without ACPI
    /// (the minimal one: power-off there only halts the CPU and QEMU would stay), a reset, which ends QEMU just the
    /// same because it runs with -no-reboot.</summary>
    public static void PowerOff()
    {
        Libc.kill(-1, Libc.SIGKILL);
        Libc.sync();
        var command = Directory.Exists("/sys/firmware/acpi") ? Libc.RB_POWER_OFF : Libc.RB_AUTOBOOT;
        Libc.reboot(command);
        AgentLog.Info($"reboot(0x{command:x}) failed: " + Errno.Name(Marshal.GetLastPInvokeError()));
    }

    private static void LoadModules()
    {
        if (!File.Exists(ModuleOrderFile)) return;
        foreach (var line in File.ReadAllLines(ModuleOrderFile))
        {
            var name = line.Trim();
            if (name.Length == 0) continue;
            var path = Path.Combine(ModuleDirectory, name + ".ko");
            int fd = NativeStrings.With(path, p => Libc.open((byte*)p, Libc.O_RDONLY | Libc.O_CLOEXEC, 0));
            if (fd < 0) throw new IOException($"open module {path}: {Errno.Name(Marshal.GetLastPInvokeError())}");
            try
            {
                byte empty = 0;
                if (Libc.syscall_finit_module(Libc.SYS_finit_module, fd, &empty, 0) != 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno != Errno.EEXIST)
                        throw new IOException($"finit_module {name}: {Errno.Name(errno)}");
                }
            }
            finally
            {
                Libc.close(fd);
            }
        }
    }

    /// <summary>/sys/class/virtio-ports/vportNpM/name holds the name the host gave the port; the device node is
    /// /dev/vportNpM (devtmpfs). The port appears asynchronously after virtio_console probes: poll briefly.</summary>
    private static string FindPort()
    {
        var deadline = Environment.TickCount64 + (long)s_portTimeout.TotalMilliseconds;
        while (true)
        {
            if (Directory.Exists("/sys/class/virtio-ports"))
            {
                foreach (var dir in Directory.EnumerateDirectories("/sys/class/virtio-ports"))
                {
                    var nameFile = Path.Combine(dir, "name");
                    if (File.Exists(nameFile) && File.ReadAllText(nameFile).Trim() == PortName)
                    {
                        var device = "/dev/" + Path.GetFileName(dir);
                        if (File.Exists(device)) return device;
                    }
                }
            }
            if (Environment.TickCount64 > deadline)
                throw new IOException($"no virtio-serial port named {PortName} appeared within {s_portTimeout.TotalSeconds} s");
            Thread.Sleep(5);
        }
    }

    internal static void Mount(string source, string target, string? type, ulong flags, string? data)
    {
        using var strings = new NativeStrings();
        byte* typePtr = type is null ? null : strings.Add(type);
        byte* dataPtr = data is null ? null : strings.Add(data);
        if (Libc.mount(strings.Add(source), strings.Add(target), typePtr, flags, dataPtr) != 0)
            throw new IOException($"mount {source} on {target} ({type ?? "no type"}, flags 0x{flags:x}): {Errno.Name(Marshal.GetLastPInvokeError())}");
    }
}
