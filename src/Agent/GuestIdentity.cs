using System.Runtime.InteropServices;
using System.Text;
using Sandbox.Agent.Interop;
using Sandbox.AgentProtocol.V1;

namespace Sandbox.Agent;

/// <summary>A guest's identity at set-up: hostname, clock, and a restored clone's RNG made its own.</summary>
internal static unsafe class GuestIdentity
{
    private const int ENODATA = 61;

    public static void Apply(SetupGuestRequest request)
    {
        SetHostname(request.Hostname);
        if (request.UnixTimeNs > 0)
        {
            var ts = new Libc.TimeSpec { Sec = request.UnixTimeNs / 1_000_000_000, NSec = request.UnixTimeNs % 1_000_000_000 };
            if (Libc.clock_settime(Libc.CLOCK_REALTIME, &ts) != 0) throw GuestSetup.Fail("clock_settime");
        }
        if (request.RandomSeed.Length > 0)
            Reseed(request.RandomSeed.Span);
    }

    /// <summary>
    /// A guest restored from a snapshot template resumes with the template's RNG state: every clone would draw the
    /// same "random" bytes until the kernel's next scheduled reseed. So the host's bytes are mixed into the input pool
    /// and credited (RNDADDENTROPY), then the CRNG is reseeded from that pool at once (RNDRESEEDCRNG; ENODATA before
    /// the CRNG was ever ready, in which case the credit above just made it ready, which seeds it). Each clone thus
    /// diverges before any workload runs. /proc/sys/kernel/random/boot_id is generated on first read, after this.
    /// </summary>
    private static void Reseed(ReadOnlySpan<byte> seed)
    {
        int fd = NativeStrings.With("/dev/urandom", p => Libc.open((byte*)p, Libc.O_WRONLY | Libc.O_CLOEXEC, 0));
        if (fd < 0) throw GuestSetup.Fail("open /dev/urandom");
        try
        {
            // struct rand_pool_info { int entropy_count; int buf_size; __u32 buf[]; }
            var info = new byte[8 + ((seed.Length + 3) & ~3)];
            BitConverter.TryWriteBytes(info.AsSpan(0, 4), seed.Length * 8);
            BitConverter.TryWriteBytes(info.AsSpan(4, 4), seed.Length);
            seed.CopyTo(info.AsSpan(8));
            fixed (byte* p = info)
            {
                if (Libc.ioctl(fd, Libc.RNDADDENTROPY, p) != 0) throw GuestSetup.Fail("ioctl(RNDADDENTROPY)");
            }
            if (Libc.ioctl(fd, Libc.RNDRESEEDCRNG, null) != 0 && Marshal.GetLastPInvokeError() != ENODATA)
                throw GuestSetup.Fail("ioctl(RNDRESEEDCRNG)");
        }
        finally
        {
            Libc.close(fd);
        }
    }

    /// <summary>The UTS namespace's hostname (the guest's, or a pod container's in its own namespace).</summary>
    public static void SetHostname(string hostname)
    {
        var name = Encoding.UTF8.GetBytes(hostname);
        fixed (byte* p = name)
        {
            if (Libc.sethostname(p, (nuint)name.Length) != 0) throw GuestSetup.Fail("sethostname");
        }
    }
}
