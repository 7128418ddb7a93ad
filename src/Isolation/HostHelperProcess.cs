using Sandbox.Isolation.Native;

namespace Sandbox.Isolation;

/// <summary>A helper program a face starts on the host beside its sandboxes (the containerd shim's binary:// log
/// programs): started with posix_spawn holding exactly the descriptors given (no managed code between fork and exec),
/// held by a pidfd so a signal never reaches a recycled pid, and reaped by the engine's process watcher when it exits.
/// The public face of the engine's own spawner, so a face needs none of the engine's internals.</summary>
public sealed class HostHelperProcess : IDisposable
{
    private readonly PidfdHandle _pidfd;

    private HostHelperProcess(PidfdHandle pidfd)
    {
        _pidfd = pidfd;
        Exited = StatusAsync(ProcessWatcher.WatchAsync(pidfd, reap: true));
    }

    public int Pid => _pidfd.Pid;

    /// <summary>Completes when the program has exited: its exit code, or 128 + the signal that killed it.</summary>
    public Task<int?> Exited { get; }

    /// <param name="fds">(a descriptor of ours, its number in the child): the child gets these and no other.</param>
    /// <param name="newSession">setsid in the child: it leaves our session and process group.</param>
    public static HostHelperProcess Start(string path, IReadOnlyList<string> argv, IReadOnlyList<string> envp,
        IReadOnlyList<(int SourceFd, int TargetFd)> fds, bool newSession)
    {
        var pid = NativeSpawn.Spawn(path, argv, envp, fds.Select(f => new NativeSpawn.FdMapping(f.SourceFd, f.TargetFd)).ToList(), newSession);
        return new HostHelperProcess(PidfdHandle.Open(pid));
    }

    /// <summary>False when the program has already exited.</summary>
    public bool Signal(int signal) => _pidfd.Signal(signal);

    public void Dispose() => _pidfd.Dispose();

    private static async Task<int?> StatusAsync(Task<ProcessExit> exit) => (await exit.ConfigureAwait(false)).Status;
}
