using System.Net.Sockets;
using System.Text;
using Sandbox.Isolation.Interop;
using Sandbox.Isolation.Native;

namespace Sandbox.Isolation.Tests;

/// <summary>The host's one process supervision primitive, on real processes: a child's exit status arrives once it is
/// reaped, a signal death reads as 128 + N, a process that is not our child is observed (no status), and many
/// watches share the one watcher thread.</summary>
public sealed class ProcessWatcherTests
{
    private static int Spawn(string script, IReadOnlyList<NativeSpawn.FdMapping>? fds = null) =>
        NativeSpawn.Spawn("/bin/sh", ["/bin/sh", "-c", script], ["PATH=/usr/bin:/bin"], fds ?? [], newSession: true);

    [Fact]
    public async Task Child_exit_code_is_reported_after_reaping()
    {
        var pid = Spawn("exit 3");
        using var pidfd = PidfdHandle.Open(pid);
        var exit = await ProcessWatcher.WatchAsync(pidfd, reap: true).WaitAsync(TimeSpan.FromMinutes(1));
        Assert.Equal(3, exit.Status);
        // Reaped: the pid names nothing of ours any more.
        Assert.False(Sandbox.Tests.Common.HostProcess.IsZombie(pid));
    }

    [Fact]
    public async Task Killed_child_reads_as_128_plus_signal()
    {
        // The child blocks on a read of its stdin (a socket we hold open): it can only end by the signal.
        var (local, remote) = UnixSocketPair.Create();
        using (local)
        {
            int pid;
            using (remote)
                pid = Spawn("read line", [new(remote.Fd, 0)]);
            using var pidfd = PidfdHandle.Open(pid);
            var exit = ProcessWatcher.WatchAsync(pidfd, reap: true);
            Assert.False(exit.IsCompleted);
            Assert.True(pidfd.Signal(Libc.SIGKILL));
            Assert.Equal(128 + Libc.SIGKILL, (await exit.WaitAsync(TimeSpan.FromMinutes(1))).Status);
            Assert.False(pidfd.Signal(Libc.SIGKILL));
        }
    }

    [Fact]
    public async Task Process_that_is_not_our_child_is_observed_without_a_status()
    {
        // sh starts a grandchild that blocks on the socket, prints its pid and exits: the grandchild is reparented.
        var (local, remote) = UnixSocketPair.Create();
        using (local)
        {
            int shell;
            using (remote)
                shell = Spawn("read line <&1 & echo $!", [new(remote.Fd, 1)]);
            using (var shellFd = PidfdHandle.Open(shell))
                Assert.Equal(0, (await ProcessWatcher.WatchAsync(shellFd, reap: true).WaitAsync(TimeSpan.FromMinutes(1))).Status);
            var buffer = new byte[64];
            var n = await local.ReceiveAsync(buffer, SocketFlags.None);
            var grandchild = int.Parse(Encoding.ASCII.GetString(buffer, 0, n).Trim());
            using var pidfd = PidfdHandle.Open(grandchild);
            var exit = ProcessWatcher.WatchAsync(pidfd, reap: false);
            Assert.False(exit.IsCompleted);
            Assert.True(pidfd.Signal(Libc.SIGKILL));
            Assert.Null((await exit.WaitAsync(TimeSpan.FromMinutes(1))).Status);
        }
    }

    [Fact]
    public async Task Many_processes_share_the_watcher()
    {
        var pids = Enumerable.Range(0, 20).Select(i => Spawn($"exit {i}")).ToList();
        var handles = pids.Select(PidfdHandle.Open).ToList();
        try
        {
            var exits = await Task.WhenAll(handles.Select(h => ProcessWatcher.WatchAsync(h, reap: true))).WaitAsync(TimeSpan.FromMinutes(1));
            Assert.Equal(Enumerable.Range(0, 20).Select(i => (int?)i), exits.Select(e => e.Status));
        }
        finally
        {
            handles.ForEach(h => h.Dispose());
        }
    }

    [Fact]
    public async Task Disposing_the_handle_while_watched_is_safe()
    {
        var (local, remote) = UnixSocketPair.Create();
        using (local)
        {
            int pid;
            using (remote)
                pid = Spawn("read line", [new(remote.Fd, 0)]);
            var pidfd = PidfdHandle.Open(pid);
            var exit = ProcessWatcher.WatchAsync(pidfd, reap: true);
            pidfd.Dispose();
            // The watcher keeps its own reference: closing our end of stdin ends the child, and it is still reaped.
            local.Dispose();
            Assert.Equal(1, (await exit.WaitAsync(TimeSpan.FromMinutes(1))).Status);
        }
    }
}
