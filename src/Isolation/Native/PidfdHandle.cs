using Microsoft.Win32.SafeHandles;
using Sandbox.Isolation.Interop;

namespace Sandbox.Isolation.Native;

/// <summary>A pidfd: names one process for good (a signal through it never hits a recycled pid), turns readable when
/// the process exits, and is the handle <see cref="ProcessWatcher"/> waits on. Closed exactly once.</summary>
internal sealed class PidfdHandle : SafeHandleMinusOneIsInvalid
{
    private PidfdHandle(int fd, int pid) : base(ownsHandle: true)
    {
        SetHandle(fd);
        Pid = pid;
    }

    /// <summary>The pid the handle was opened for (only meaningful while the process has not been reaped).</summary>
    public int Pid { get; }

    /// <summary>The descriptor number, for a call made now; throws once the handle is closed (the number may name
    /// another object by then).</summary>
    public int Fd => IsClosed ? throw new ObjectDisposedException(nameof(PidfdHandle)) : (int)handle;

    /// <summary>Opens a pidfd for <paramref name="pid"/>; null when no such process exists (ESRCH).</summary>
    public static PidfdHandle? TryOpen(int pid)
    {
        var fd = Libc.PidfdOpen(pid, 0);
        if (fd >= 0)
            return new PidfdHandle(fd, pid);
        if (Errno.Last == Errno.ESRCH)
            return null;
        throw Errno.Fail($"pidfd_open({pid})");
    }

    public static PidfdHandle Open(int pid) =>
        TryOpen(pid) ?? throw new SandboxException(SandboxErrorCode.NotFound, $"process {pid} does not exist");

    /// <summary>Sends <paramref name="signal"/>; false when the process has already exited.</summary>
    public bool Signal(int signal)
    {
        var added = false;
        try
        {
            DangerousAddRef(ref added);
            if (Libc.PidfdSendSignal((int)handle, signal, 0, 0) == 0)
                return true;
            if (Errno.Last == Errno.ESRCH)
                return false;
            throw Errno.Fail($"pidfd_send_signal({Pid}, {signal})");
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
        finally
        {
            if (added) DangerousRelease();
        }
    }

    protected override bool ReleaseHandle() => Libc.Close((int)handle) == 0;
}
