using System.Runtime.InteropServices;
using Sandbox.Agent.Interop;

namespace Sandbox.Agent.Tests;

/// <summary>Waits for a process that is not the test's child to exit, through a pidfd (readable once it has exited,
/// zombie or reaped): a real signal instead of polling /proc with sleeps.</summary>
internal sealed partial class ProcessExitProbe : IDisposable
{
    private readonly int _pidfd;

    [LibraryImport("libc", EntryPoint = "pidfd_open", SetLastError = true)]
    private static partial int PidfdOpen(int pid, uint flags);

    /// <summary>Opens the probe now (while <paramref name="pid"/> surely names the process under test).</summary>
    public ProcessExitProbe(int pid)
    {
        _pidfd = PidfdOpen(pid, 0);
        if (_pidfd < 0)
            throw new InvalidOperationException($"pidfd_open({pid}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>True once the process has exited; false when it is still running after <paramref name="bound"/>.</summary>
    public Task<bool> ExitedWithinAsync(TimeSpan bound) => Task.Run(() =>
    {
        unsafe
        {
            var pfd = new Libc.PollFd { Fd = _pidfd, Events = Libc.POLLIN };
            var deadline = Environment.TickCount64 + (long)bound.TotalMilliseconds;
            while (true)
            {
                var left = (int)Math.Max(0, deadline - Environment.TickCount64);
                var n = Libc.poll(&pfd, 1, left);
                if (n > 0) return true;
                if (n == 0) return false;
                if (Marshal.GetLastPInvokeError() != 4 /* EINTR */)
                    throw new InvalidOperationException($"poll failed: errno {Marshal.GetLastPInvokeError()}");
            }
        }
    });

    public void Dispose() => Libc.close(_pidfd);
}
