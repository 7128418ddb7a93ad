using System.Text;
using Sandbox.Isolation.Interop;
using Sandbox.Isolation.Native;

namespace Sandbox.Isolation.Users;

/// <summary>
/// Creates a sandbox's user namespace with the host writing its id maps, so the sandbox gets a whole range of
/// unprivileged host ids (<see cref="UidRange"/>) instead of bwrap's one. bwrap 0.8 then joins it (<c>--userns FD</c>).
/// <list type="number">
/// <item>A short-lived holder, <c>sandbox-launch userns OWNER OWNER limit</c> (the agent bundle's freestanding helper,
/// src/Isolation/Native/sandbox-launch.c), drops root to the owner uid and creates the namespace as that uid (bwrap runs
/// as that uid and may join a namespace it owns; host root never owns it) and, holding every capability inside it,
/// sets <c>user.max_user_namespaces</c> to 0 there: bwrap's own <c>--disable-userns</c> cannot be combined with
/// <c>--userns</c>, and this is what it does (the limit applies to everything inside and only a holder of
/// CAP_SYS_RESOURCE in the namespace may raise it, which nothing in a sandbox is). One static process of raw syscalls:
/// the three dynamically linked programs it replaces (<c>unshare --setuid → unshare --user --keep-caps → sysctl</c>)
/// cost ~11 ms of CPU per sandbox on this kind of host, it costs ~0.5.</item>
/// <item>Its exit is observed without reaping it: a zombie keeps its pid and its credentials, so its
/// <c>/proc/PID/ns/user</c> is opened and its <c>uid_map</c> / <c>gid_map</c> written (by root, which may map any
/// host ids) with the one range line, never host uid 0; then it is reaped.</item>
/// </list>
/// The descriptor returned keeps the namespace alive until bwrap has joined it; nothing ever runs in it before its
/// maps and its limit are in place.
/// </summary>
internal static class SandboxUserNamespace
{
    private const int MaxStderr = 4096;

    /// <param name="allowNested">Leave <c>user.max_user_namespaces</c> as it is (the sandbox may create nested user
    /// namespaces).</param>
    public static async Task<FileDescriptor> CreateAsync(string launchHelper, int ownerUid, UidRange range, bool allowNested)
    {
        if (ownerUid <= 0 || range.ContainsHost(0))
            throw new ArgumentOutOfRangeException(nameof(ownerUid), $"owner uid {ownerUid} and the range {range} must not include host uid 0");
        string[] argv = [launchHelper, "userns", ownerUid.ToString(), ownerUid.ToString(), allowNested ? "keep" : "limit"];
        var (stderr, stderrRemote) = UnixSocketPair.Create();
        using var _ = stderr;
        int pid;
        using (stderrRemote)
        using (var devNull = File.OpenHandle("/dev/null", FileMode.Open, FileAccess.ReadWrite))
        {
            var nullFd = (int)devNull.DangerousGetHandle();
            pid = NativeSpawn.Spawn(argv[0], argv, [],
                [new(nullFd, 0), new(nullFd, 1), new(stderrRemote.Fd, 2)], newSession: false);
        }
        using var pidfd = PidfdHandle.Open(pid);
        var reaped = false;
        try
        {
            // Exited, not reaped: the zombie is still the holder of the namespace (observed, not waited for).
            await ProcessWatcher.WatchAsync(pidfd, reap: false).ConfigureAwait(false);
            var status = ExitStatusWithoutReaping(pidfd);
            if (status != 0)
            {
                var message = await ReadTailAsync(stderr).ConfigureAwait(false);
                throw new SandboxException(SandboxErrorCode.Unavailable,
                    $"creating the sandbox's user namespace failed ({string.Join(' ', argv)}: {(status > 128 ? $"signal {status - 128}" : $"exit code {status}")}): {message}");
            }
            var ns = OpenNamespace(pid);
            try
            {
                WriteMap($"/proc/{pid}/uid_map", range.MapLine);
                WriteMap($"/proc/{pid}/gid_map", range.MapLine);
            }
            catch
            {
                ns.Dispose();
                throw;
            }
            Reap(pidfd);
            reaped = true;
            return ns;
        }
        finally
        {
            if (!reaped)
                Reap(pidfd);
        }
    }

    private static FileDescriptor OpenNamespace(int pid)
    {
        var fd = Libc.Open($"/proc/{pid}/ns/user", Libc.O_RDONLY | Libc.O_CLOEXEC);
        if (fd < 0)
            throw Errno.Fail($"open(/proc/{pid}/ns/user)");
        return new FileDescriptor(fd);
    }

    /// <summary>One write(2), as the kernel requires for an id map.</summary>
    private static void WriteMap(string path, string line)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
        file.Write(Encoding.ASCII.GetBytes(line));
    }

    private static unsafe int ExitStatusWithoutReaping(PidfdHandle pidfd)
    {
        Libc.SigInfoChild info = default;
        while (Libc.WaitId(Libc.P_PIDFD, pidfd.Fd, &info, Libc.WEXITED | Libc.WNOWAIT) != 0)
        {
            if (Errno.Last != Errno.EINTR)
                throw Errno.Fail($"waitid(pidfd of {pidfd.Pid}, WNOWAIT)");
        }
        return info.Code == Libc.CLD_EXITED ? info.Status : 128 + info.Status;
    }

    private static unsafe void Reap(PidfdHandle pidfd)
    {
        Libc.SigInfoChild info = default;
        while (Libc.WaitId(Libc.P_PIDFD, pidfd.Fd, &info, Libc.WEXITED) != 0 && Errno.Last == Errno.EINTR) { }
    }

    private static async Task<string> ReadTailAsync(System.Net.Sockets.Socket stderr)
    {
        var buffer = new byte[MaxStderr];
        var total = 0;
        // The holder has exited: everything it wrote is buffered and the socket reads EOF after it.
        while (total < buffer.Length)
        {
            var n = await stderr.ReceiveAsync(buffer.AsMemory(total), System.Net.Sockets.SocketFlags.None).ConfigureAwait(false);
            if (n == 0) break;
            total += n;
        }
        return Encoding.UTF8.GetString(buffer, 0, total).Trim();
    }
}
