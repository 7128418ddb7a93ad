using Sandbox.Isolation.Container;
using Sandbox.Isolation.Interop;
using Sandbox.Isolation.Native;

namespace Sandbox.Isolation.Network;

/// <summary>A helper daemon of a sandbox's network (pasta, dnsmasq), held by a pidfd and watched by the process
/// watcher. It is not our child (it put itself in the background), so it is observed, not reaped. It is found through
/// the pid file it wrote and checked to be the program expected (its executable's name) and not to have started
/// before the command that launched it: a pid file naming a recycled pid is refused.</summary>
internal sealed class HelperProcess : IAsyncDisposable
{
    private static readonly TimeSpan s_stopTimeout = TimeSpan.FromSeconds(5);
    private readonly PidfdHandle _pidfd;
    private int _disposed;

    private HelperProcess(string name, PidfdHandle pidfd, Task<ProcessExit> exited)
    {
        Name = name;
        _pidfd = pidfd;
        Exited = exited;
    }

    public string Name { get; }
    public int Pid => _pidfd.Pid;

    /// <summary>Completes when the helper has exited.</summary>
    public Task<ProcessExit> Exited { get; }

    /// <summary>Opens the helper named by <paramref name="pidFile"/>; null when the file, the process or the match is
    /// missing (<paramref name="why"/> says which).</summary>
    public static HelperProcess? Open(string name, string pidFile, IReadOnlyList<string> executableNames, ulong notBefore, out string why)
    {
        why = "";
        string text;
        try
        {
            text = File.ReadAllText(pidFile).Trim();
        }
        catch (IOException e)
        {
            why = $"no pid file {pidFile} ({e.Message})";
            return null;
        }
        if (!int.TryParse(text, out var pid) || pid <= 1)
        {
            why = $"pid file {pidFile} holds '{text}', not a pid";
            return null;
        }
        if (PidfdHandle.TryOpen(pid) is not { } pidfd)
        {
            why = $"{name} (pid {pid}) is not running";
            return null;
        }
        // Checked after the pidfd is open: the pidfd names the process the checks saw.
        var exe = ReadExecutable(pid);
        if (ProcStat.Read(pid) is not { IsGone: false } stat || stat.StartTime < notBefore
            || exe is null || !executableNames.Any(n => exe.StartsWith(n, StringComparison.Ordinal)))
        {
            pidfd.Dispose();
            why = $"pid {pid} from {pidFile} is not the {name} that was started (executable '{exe}')";
            return null;
        }
        return new HelperProcess(name, pidfd, ProcessWatcher.WatchAsync(pidfd, reap: false));
    }

    private static string? ReadExecutable(int pid)
    {
        try
        {
            return Path.GetFileName(new FileInfo($"/proc/{pid}/exe").LinkTarget);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>SIGTERM, then SIGKILL if it has not gone within a bound; waits for its exit. Never throws.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _pidfd.Signal(Libc.SIGTERM);
        try
        {
            await Exited.WaitAsync(s_stopTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _pidfd.Signal(Libc.SIGKILL);
            try { await Exited.WaitAsync(s_stopTimeout).ConfigureAwait(false); }
            catch (TimeoutException) { }
        }
        _pidfd.Dispose();
    }
}
