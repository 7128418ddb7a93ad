using System.Runtime.InteropServices;

namespace Sandbox.Shim.Tests;

/// <summary>Waits for a process that is not our child to exit, through its pidfd (readable when it exits): no polling.</summary>
public static class ProcessExit
{
    public static bool WaitFor(int pid, TimeSpan timeout)
    {
        var fd = pidfd_open(pid, 0);
        if (fd < 0)
            return true; // already gone
        try
        {
            // poll is never restarted after a signal handler ran (SA_RESTART does not apply to it), and this process
            // gets SIGCHLD for every command a test runs: an EINTR is not "still alive", the wait goes on.
            var pfd = new PollFd { Fd = fd, Events = 1 };
            var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
            while (true)
            {
                var n = poll(ref pfd, 1, (int)Math.Max(0, deadline - Environment.TickCount64));
                if (n >= 0)
                    return n > 0;
                if (Marshal.GetLastPInvokeError() != 4 /* EINTR */)
                    throw new InvalidOperationException($"poll on the pidfd of {pid} failed: errno {Marshal.GetLastPInvokeError()}");
            }
        }
        finally
        {
            close(fd);
        }
    }

    /// <summary>Waits (bounded) for every listed process to exit; returns those still alive.</summary>
    public static IReadOnlyList<int> StillAliveAfter(IReadOnlyList<int> pids, TimeSpan timeout) =>
        pids.Where(pid => !WaitFor(pid, timeout)).ToList();

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int poll(ref PollFd fds, ulong nfds, int timeout);

    [DllImport("libc", SetLastError = true)]
    private static extern int close(int fd);

    private static int pidfd_open(int pid, uint flags) => (int)syscall(434, pid, flags);

    [DllImport("libc", SetLastError = true)]
    private static extern long syscall(long number, int pid, uint flags);
}
