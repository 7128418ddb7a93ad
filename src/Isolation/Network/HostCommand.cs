using System.Net.Sockets;
using System.Text;
using Sandbox.Isolation.Interop;
using Sandbox.Isolation.Native;

namespace Sandbox.Isolation.Network;

/// <summary>Runs one host program to completion (ip, nft, and the first stage of a daemonizing helper): posix_spawn
/// with exactly stdin (a sealed memfd: the input, or empty), stdout and stderr; its exit learned from the process
/// watcher, which reaps it. A non-zero exit is an error naming the command, its status and what it printed.</summary>
internal static class HostCommand
{
    private const int MaxOutput = 64 * 1024;

    /// <summary>Runs <paramref name="argv"/> and returns its output (stdout and stderr together, at most 64 KiB). The
    /// program must not leave a child holding its output open (it is read to EOF); see
    /// <see cref="RunDaemonizingAsync"/> for one that does.</summary>
    public static async Task<string> RunAsync(IReadOnlyList<string> argv, string? input = null)
    {
        var (output, remote) = UnixSocketPair.Create();
        using (output)
        {
            Task<ProcessExit> exit;
            PidfdHandle pidfd;
            using (remote)
            using (var stdin = SealedMemfd.Create("stdin", Encoding.UTF8.GetBytes(input ?? "")))
                (pidfd, exit) = Start(argv, [new(stdin.Fd, 0), new(remote.Fd, 1), new(remote.Fd, 2)]);
            using (pidfd)
            {
                var text = await ReadToEndAsync(output).ConfigureAwait(false);
                var status = await exit.ConfigureAwait(false);
                Check(argv, status, text);
                return text;
            }
        }
    }

    /// <summary>Runs a program that puts itself in the background once it is ready (pasta, dnsmasq): its first process
    /// exits 0 then, and the daemon carries on. Output goes to <paramref name="outputFile"/> (the daemon may keep it
    /// open, so it cannot be read to EOF); on failure the file's tail is in the error.</summary>
    public static async Task RunDaemonizingAsync(IReadOnlyList<string> argv, string outputFile)
    {
        Task<ProcessExit> exit;
        using (var stdin = SealedMemfd.Create("stdin", []))
        using (var output = File.OpenHandle(outputFile, FileMode.Append, FileAccess.Write, FileShare.ReadWrite))
        {
            var fd = (int)output.DangerousGetHandle();
            PidfdHandle pidfd;
            (pidfd, exit) = Start(argv, [new(stdin.Fd, 0), new(fd, 1), new(fd, 2)]);
            pidfd.Dispose();
        }
        var status = await exit.ConfigureAwait(false);
        Check(argv, status, Tail(outputFile));
    }

    private static (PidfdHandle, Task<ProcessExit>) Start(IReadOnlyList<string> argv, IReadOnlyList<NativeSpawn.FdMapping> fds)
    {
        var pid = NativeSpawn.Spawn(argv[0], argv, ["PATH=" + DefaultEnvironment.Path, "LANG=C"], fds, newSession: true);
        PidfdHandle pidfd;
        try
        {
            pidfd = PidfdHandle.Open(pid);
        }
        catch
        {
            Libc.Kill(pid, Libc.SIGKILL);
            throw;
        }
        return (pidfd, ProcessWatcher.WatchAsync(pidfd, reap: true));
    }

    private static void Check(IReadOnlyList<string> argv, ProcessExit status, string output)
    {
        if (status.Status is 0 or null)
            return;
        var said = output.Trim();
        throw new SandboxException(SandboxErrorCode.Unavailable,
            $"'{string.Join(' ', argv)}' failed ({status}){(said.Length > 0 ? ": " + said : "")}");
    }

    private static async Task<string> ReadToEndAsync(Socket socket)
    {
        var buffer = new byte[MaxOutput];
        var length = 0;
        var scratch = new byte[4096];
        while (true)
        {
            var n = await socket.ReceiveAsync(scratch, SocketFlags.None).ConfigureAwait(false);
            if (n == 0)
                return Encoding.UTF8.GetString(buffer, 0, length);
            var keep = Math.Min(n, MaxOutput - length);
            scratch.AsSpan(0, keep).CopyTo(buffer.AsSpan(length));
            length += keep; // the rest is drained and dropped, so the program never blocks on a full socket
        }
    }

    internal static string Tail(string file)
    {
        try
        {
            var text = File.ReadAllText(file);
            return text.Length > 4000 ? text[^4000..] : text;
        }
        catch (IOException)
        {
            return "";
        }
    }
}
