using System.Runtime.InteropServices;
using System.Text;
using Sandbox.Agent.Interop;

namespace Sandbox.Agent;

/// <summary>
/// The cgroup.procs file of a cgroup the agent moves itself into around every spawn (the guest's root and workload
/// cgroups), kept open: a move is one write(2) instead of File.WriteAllText's open, fstat, flock, write and close and
/// the managed code around them, twice per exec, which the microVM guest pays under TCG. A write that fails on the
/// open descriptor (the cgroup was removed and made again) is retried once on a freshly opened one. Used under
/// <see cref="GuestConfinement.CgroupSpawnLock"/>.
/// </summary>
internal sealed unsafe class CgroupProcsFile(string cgroup)
{
    private readonly string _path = Path.Combine(cgroup, "cgroup.procs");
    private int _fd = -1;

    /// <summary>Moves the whole process <paramref name="pid"/> into this cgroup.</summary>
    public void Move(int pid)
    {
        var text = Encoding.ASCII.GetBytes(pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (_fd >= 0 && TryWrite(text)) return;
        Reopen();
        if (!TryWrite(text))
            throw new IOException($"moving pid {pid} into {_path}: {Errno.Name(Marshal.GetLastPInvokeError())}");
    }

    private bool TryWrite(byte[] text)
    {
        fixed (byte* p = text)
        {
            nint n;
            do n = Libc.write(_fd, p, (nuint)text.Length);
            while (n < 0 && Marshal.GetLastPInvokeError() == Errno.EINTR);
            return n == text.Length;
        }
    }

    private void Reopen()
    {
        if (_fd >= 0) Libc.close(_fd);
        _fd = NativeStrings.With(_path, p => Libc.open((byte*)p, Libc.O_WRONLY | Libc.O_CLOEXEC, 0));
        if (_fd < 0)
            throw new IOException($"open {_path}: {Errno.Name(Marshal.GetLastPInvokeError())}");
    }
}
