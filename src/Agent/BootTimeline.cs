using Sandbox.Agent.Interop;
using Sandbox.AgentProtocol.V1;

namespace Sandbox.Agent;

/// <summary>
/// When the guest agent reached each stage of a microVM's start, in CLOCK_BOOTTIME (time since the guest kernel began
/// to boot), reported on Ping (<see cref="PingResponse.BootStages"/>) so the host can tell the kernel, the agent's own
/// start, its mounts, the host's set-up and the first exec apart. A stage reached again keeps its latest time (a clone
/// restored from a snapshot template has the template's boot stages, then its own "ping", set-up and exec), at most
/// <see cref="MaxStages"/> names; a container's agent records nothing.
/// </summary>
internal static unsafe class BootTimeline
{
    public const int MaxStages = 32;

    private static readonly Lock Gate = new();
    private static readonly List<BootStage> s_stages = [];

    /// <summary>Only a microVM guest's agent keeps a timeline.</summary>
    public static bool Enabled { get; set; }

    /// <summary>The kernel's own stages, from its log (/dev/kmsg records carry their time whatever the console's log
    /// level): the initramfs unpacked and /init run. Call once /dev is mounted, before anything else reads the log.</summary>
    public static void MarkKernelStages()
    {
        if (!Enabled) return;
        int fd = NativeStrings.With("/dev/kmsg", p => Libc.open((byte*)p, Libc.O_RDONLY | Libc.O_NONBLOCK | Libc.O_CLOEXEC, 0));
        if (fd < 0) return;
        try
        {
            var buffer = new byte[1024];
            fixed (byte* b = buffer)
            {
                // One record per read, "priority,sequence,microseconds,flags;text"; EAGAIN at the end (EPIPE: a record
                // was overwritten, read on).
                for (int records = 0; records < 4096; records++)
                {
                    nint n = Libc.read(fd, b, (nuint)buffer.Length);
                    if (n < 0 && System.Runtime.InteropServices.Marshal.GetLastPInvokeError() == Errno.EPIPE) continue;
                    if (n <= 0) break;
                    var record = System.Text.Encoding.ASCII.GetString(buffer, 0, (int)n);
                    var header = record.Split(';', 2);
                    var fields = header[0].Split(',');
                    if (header.Length < 2 || fields.Length < 3 || !long.TryParse(fields[2], out var microseconds)) continue;
                    if (header[1].StartsWith("Freeing initrd memory", StringComparison.Ordinal)) Add("kernel-initramfs-unpacked", microseconds);
                    else if (header[1].StartsWith("Run /init as init process", StringComparison.Ordinal)) Add("kernel-run-init", microseconds);
                }
            }
        }
        finally
        {
            Libc.close(fd);
        }
    }

    public static void Mark(string stage)
    {
        if (Enabled) Add(stage, Now());
    }

    /// <summary>The stages reached, in time order.</summary>
    public static BootStage[] Snapshot()
    {
        lock (Gate) return [.. s_stages.OrderBy(s => s.BoottimeUs)];
    }

    private static void Add(string stage, long microseconds)
    {
        lock (Gate)
        {
            s_stages.RemoveAll(s => s.Name == stage);
            if (s_stages.Count >= MaxStages) return;
            s_stages.Add(new BootStage { Name = stage, BoottimeUs = microseconds });
        }
    }

    private static long Now()
    {
        Libc.TimeSpec ts;
        return Libc.clock_gettime(Libc.CLOCK_BOOTTIME, &ts) == 0 ? ts.Sec * 1_000_000 + ts.NSec / 1000 : 0;
    }
}
