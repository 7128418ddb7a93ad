using System.Runtime.InteropServices;
using System.Text;
using Sandbox.Agent.Interop;
using Sandbox.Ttrpc;

namespace Sandbox.Agent;

/// <summary>
/// A new pseudo-terminal for one exec. The agent keeps the master: <see cref="TakeOutputFd"/> and
/// <see cref="TakeInputFd"/> hand out descriptors of it for the output and stdin pumps, <see cref="Resize"/> uses its
/// own. The child opens the slave by <see cref="SlavePath"/> as its first file action: it leads a new session then
/// (POSIX_SPAWN_SETSID is applied before file actions), so that open makes the terminal its controlling one.
/// </summary>
internal sealed unsafe class Terminal : IDisposable
{
    private int _master;

    public string SlavePath { get; }

    private Terminal(int master, string slavePath)
    {
        _master = master;
        SlavePath = slavePath;
    }

    /// <summary>Opens a master (in the caller's identity: in a microVM guest, call it with the workload's, so the slave
    /// belongs to the workload) with the given window size.</summary>
    public static Terminal Open(uint rows, uint cols)
    {
        int master = Libc.posix_openpt(Libc.O_RDWR | Libc.O_NOCTTY | Libc.O_CLOEXEC);
        if (master < 0) throw Fail("posix_openpt", Marshal.GetLastPInvokeError());
        try
        {
            if (Libc.unlockpt(master) != 0) throw Fail("unlockpt", Marshal.GetLastPInvokeError());
            byte* name = stackalloc byte[128];
            int rc = Libc.ptsname_r(master, name, 128);
            if (rc != 0) throw Fail("ptsname_r", rc);
            var terminal = new Terminal(master, Encoding.UTF8.GetString(new ReadOnlySpan<byte>(name, 128)[..new ReadOnlySpan<byte>(name, 128).IndexOf((byte)0)]));
            terminal.Resize(rows, cols);
            return terminal;
        }
        catch
        {
            Libc.close(master);
            throw;
        }
    }

    /// <summary>A non-blocking, close-on-exec duplicate of the master for the output pump (reads EIO, taken as the end,
    /// once every slave descriptor is closed).</summary>
    public int TakeOutputFd() => Duplicate();

    /// <summary>Opens the slave (O_NOCTTY: it never becomes the opener's controlling terminal), for a held exec.</summary>
    public unsafe int OpenSlave()
    {
        using var strings = new NativeStrings();
        int fd = Libc.open(strings.Add(SlavePath), Libc.O_RDWR | Libc.O_NOCTTY | Libc.O_CLOEXEC, 0);
        if (fd < 0) throw Fail("open " + SlavePath, Marshal.GetLastPInvokeError());
        return fd;
    }

    /// <summary>Another duplicate for the stdin pump: closing it (stdin closed) leaves the terminal up.</summary>
    public int TakeInputFd() => Duplicate();

    public void Resize(uint rows, uint cols)
    {
        if (rows is 0 or > ushort.MaxValue || cols is 0 or > ushort.MaxValue)
            throw new TtrpcException(StatusCode.InvalidArgument, $"terminal size {rows}x{cols}: rows and cols must be 1..65535");
        if (_master < 0) return;
        var size = new Libc.WinSize { Rows = (ushort)rows, Cols = (ushort)cols };
        if (Libc.ioctl(_master, Libc.TIOCSWINSZ, &size) != 0) throw Fail("TIOCSWINSZ", Marshal.GetLastPInvokeError());
    }

    private int Duplicate()
    {
        int fd = Libc.fcntl(_master, Libc.F_DUPFD_CLOEXEC, 3);
        if (fd < 0) throw Fail("dup of the terminal", Marshal.GetLastPInvokeError());
        int flags = Libc.fcntl(fd, Libc.F_GETFL, 0);
        Libc.fcntl(fd, Libc.F_SETFL, flags | Libc.O_NONBLOCK);
        return fd;
    }

    private static TtrpcException Fail(string what, int errno) => new(StatusCode.ResourceExhausted, $"terminal: {what}: {Errno.Name(errno)}");

    public void Dispose()
    {
        int fd = Interlocked.Exchange(ref _master, -1);
        if (fd >= 0) Libc.close(fd);
    }
}
