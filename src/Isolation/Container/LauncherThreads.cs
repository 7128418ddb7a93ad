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
    // A plain queue under a lock, waited on with Monitor.Wait: a BlockingCollection's SemaphoreSlim spins (sched_yield
    // and SpinWait) before it sleeps, and each launch woke an idle launcher thread into that spin: ~2 % of a one-shot
    // run's CPU in perf (bench/sandboxd --sustained-only), for a wait that is almost always long.
    private static readonly Queue<Action> s_jobs = new();
    private static readonly Lazy<bool> s_started = new(StartThreads);

    public static Task<BwrapProcess> SpawnAsync(IReadOnlyList<string> argv, IReadOnlyList<string> envp, IReadOnlyList<NativeSpawn.FdMapping> fds)
    {
        _ = s_started.Value;
        var done = new TaskCompletionSource<BwrapProcess>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (s_jobs)
        {
            s_jobs.Enqueue(() =>
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
            Monitor.Pulse(s_jobs);
        }
        return done.Task;
    }

    private static bool StartThreads()
    {
        for (var i = 0; i < 2; i++)
        {
            new Thread(() =>
            {
                while (true)
                {
                    Action job;
                    lock (s_jobs)
                    {
                        while (s_jobs.Count == 0)
                            Monitor.Wait(s_jobs);
                        job = s_jobs.Dequeue();
                    }
                    job();
                }
            })
            {
                IsBackground = true,
                Name = "sandbox-launcher",
            }.Start();
        }
        return true;
    }
}
