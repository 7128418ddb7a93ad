namespace Sandbox.Agent;

/// <summary>
/// A thread started before the operation that will use it: it waits with the agent's own credentials, runs one
/// operation (which may confine it for good) and ends. Starting a thread costs the microVM guest milliseconds under
/// TCG (its stack, the runtime's thread set-up, all of it new guest code paths to translate), so
/// <see cref="GuestConfinement.OnThread{T}"/> takes the one made ready after the previous spawn instead of starting one
/// on the request path. Nothing of a previous operation is on it: every operation gets a thread that never ran another.
/// </summary>
internal sealed class ReadyThread
{
    private const int StackBytes = 256 * 1024;
    private static ReadyThread? s_next;

    private readonly object _gate = new(); // Monitor.Wait needs a monitor, not a Lock
    private readonly Thread _thread;
    private Action? _operation;
    private bool _go;

    private ReadyThread()
    {
        _thread = new Thread(() =>
        {
            lock (_gate)
            {
                while (!_go) Monitor.Wait(_gate);
            }
            _operation?.Invoke();
        }, StackBytes) { IsBackground = true, Name = "workload-spawn" };
        _thread.Start();
    }

    /// <summary>Runs <paramref name="operation"/> on a thread that never ran anything else (the ready one, or a new
    /// one), waits for it to end, and has the next one started off the caller's path.</summary>
    public static void RunOnce(Action operation)
    {
        var thread = Interlocked.Exchange(ref s_next, null) ?? new ReadyThread();
        thread.Start(operation);
        ThreadPool.UnsafeQueueUserWorkItem(static _ => MakeNext(), null);
    }

    /// <summary>Started while no spawn has the agent in a workload cgroup (a thread started there would be refused by a
    /// full pids.max). A thread that cannot be started now is started on the next request instead.</summary>
    private static void MakeNext()
    {
        if (Volatile.Read(ref s_next) is not null) return;
        ReadyThread next;
        try
        {
            lock (GuestConfinement.CgroupSpawnLock)
                next = new ReadyThread();
        }
        catch (Exception e) when (e is OutOfMemoryException or ThreadStartException)
        {
            return;
        }
        if (Interlocked.CompareExchange(ref s_next, next, null) is not null)
            next.Release();
    }

    /// <summary>Ends an unused ready thread.</summary>
    private void Release() => Start(null);

    /// <summary>Lets the thread run <paramref name="operation"/> (null: nothing) and waits for it to end.</summary>
    private void Start(Action? operation)
    {
        lock (_gate)
        {
            _operation = operation;
            _go = true;
            Monitor.Pulse(_gate);
        }
        _thread.Join();
    }
}
