using System.Collections.Concurrent;
using Sandbox.Isolation.Native;

namespace Sandbox.Isolation.Container;

/// <summary>Where every bwrap is spawned: a few dedicated threads that live as long as the process.
/// PR_SET_PDEATHSIG (bwrap's --die-with-parent) fires when the parent <i>thread</i> exits, not the parent process; a
/// bwrap spawned from a thread-pool thread would be SIGKILLed, sandbox and all, whenever the pool retires that idle
/// thread. These threads never exit, so "dies with its parent" means "dies with this process".
/// <para>They only spawn and stay root: changing a thread's credentials for the spawn (to drop the exec that drops to the owner uid) is
/// not safe in a managed runtime, because any thread the runtime creates from that thread meanwhile (thread-pool
/// workers, the tiering worker) would inherit the unprivileged identity for good.</para></summary>
internal static class LauncherThreads
{
    private static readonly BlockingCollection<Action> s_jobs = new();
    private static readonly Lazy<bool> s_started = new(StartThreads);

    public static Task<BwrapProcess> SpawnAsync(IReadOnlyList<string> argv, IReadOnlyList<string> envp, IReadOnlyList<NativeSpawn.FdMapping> fds)
    {
        _ = s_started.Value;
        var done = new TaskCompletionSource<BwrapProcess>(TaskCreationOptions.RunContinuationsAsynchronously);
        s_jobs.Add(() =>
        {
            try
            {
                done.SetResult(BwrapProcess.Start(argv, envp, fds));
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        });
        return done.Task;
    }

    private static bool StartThreads()
    {
        for (var i = 0; i < 2; i++)
        {
            new Thread(() =>
            {
                foreach (var job in s_jobs.GetConsumingEnumerable())
                    job();
            })
            {
                IsBackground = true,
                Name = "sandbox-launcher",
            }.Start();
        }
        return true;
    }
}
