namespace Sandbox.Isolation.Agent;

/// <summary>
/// The host's hold on one sandbox's agent, for both tiers. The agent lives inside the boundary, so the code it
/// supervises may stop it, kill it or rewrite it; nothing the host does may hang on it:
/// <list type="bullet">
/// <item>every call but the long polls (output, wait, stdin with backpressure) has a deadline;</item>
/// <item>while long polls are in flight, a ping with the same deadline runs every <see cref="HeartbeatInterval"/>;</item>
/// <item>a missed deadline or a lost connection marks the sandbox broken: the tier's kill runs once (the container's
/// cgroup, the microVM's QEMU: nothing in the sandbox goes on unsupervised), pending long polls end, and every later
/// call fails at once with <see cref="SandboxErrorCode.Unavailable"/> naming the sandbox and the reason.</item>
/// </list>
/// </summary>
internal sealed class AgentChannel : IDisposable
{
    /// <summary>How long one ordinary call may take. Generous: a false alarm kills a healthy sandbox, and this host may be
    /// loaded; an agent that answers nothing is found within this bound.</summary>
    public static readonly TimeSpan DefaultCallDeadline = TimeSpan.FromSeconds(15);

    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(10);

    private readonly SandboxId _id;
    private readonly Func<string>? _diagnostics;
    private readonly Func<Task> _kill;
    private readonly TimeSpan _deadline;
    private readonly CancellationTokenSource _broken = new();
    private readonly ITimer _heartbeat;
    private string? _brokenReason;
    private int _longPolls;
    private int _pinging;
    private int _closed;

    /// <param name="kill">The tier's way to end everything in the sandbox without the agent's help; run once, when the
    /// sandbox turns broken.</param>
    /// <param name="diagnostics">What the agent (or the guest console) last wrote, quoted when the connection is lost.</param>
    public AgentChannel(AgentClient client, SandboxId id, Func<Task> kill, Func<string>? diagnostics = null, TimeSpan? callDeadline = null,
        TimeProvider? time = null)
    {
        Client = client;
        _id = id;
        _kill = kill;
        _diagnostics = diagnostics;
        _deadline = callDeadline ?? DefaultCallDeadline;
        _heartbeat = (time ?? TimeProvider.System).CreateTimer(_ => Heartbeat(), null, HeartbeatInterval, HeartbeatInterval);
    }

    public AgentClient Client { get; }

    /// <summary>How long one ordinary call may take before the sandbox is declared broken.</summary>
    public TimeSpan CallDeadline => _deadline;

    /// <summary>Why the sandbox is broken; null while its agent answers.</summary>
    public string? BrokenReason => Volatile.Read(ref _brokenReason);

    /// <summary>A call with the deadline.</summary>
    public Task<T> CallAsync<T>(string method, Func<AgentClient, CancellationToken, Task<T>> call, CancellationToken cancellationToken) =>
        RunAsync(method, call, deadline: true, cancellationToken);

    public Task CallAsync(string method, Func<AgentClient, CancellationToken, Task> call, CancellationToken cancellationToken) =>
        RunAsync(method, async (c, t) =>
        {
            await call(c, t).ConfigureAwait(false);
            return true;
        }, deadline: true, cancellationToken);

    /// <summary>A call that may rightly wait as long as the workload does (no deadline): the heartbeat watches the agent
    /// meanwhile, and the call ends when the sandbox turns broken.</summary>
    public async Task<T> LongPollAsync<T>(string method, Func<AgentClient, CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _longPolls);
        try
        {
            return await RunAsync(method, call, deadline: false, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _longPolls);
        }
    }

    /// <summary>Marks the sandbox broken (first reason wins) and runs the tier's kill once.</summary>
    public async Task MarkBrokenAsync(string reason)
    {
        if (Interlocked.CompareExchange(ref _brokenReason, reason, null) is not null)
            return;
        await _broken.CancelAsync().ConfigureAwait(false);
        if (Volatile.Read(ref _closed) != 0)
            return;
        try
        {
            await _kill().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Deleting the sandbox kills it again and reports what fails then.
        }
    }

    /// <summary>The sandbox is being deleted: calls failing from now on are the teardown, not a broken agent.</summary>
    public void Close() => Interlocked.Exchange(ref _closed, 1);

    public void Dispose()
    {
        Close();
        _heartbeat.Dispose();
        _broken.Dispose();
    }

    private async Task<T> RunAsync<T>(string method, Func<AgentClient, CancellationToken, Task<T>> call, bool deadline, CancellationToken cancellationToken)
    {
        ThrowIfBroken();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _broken.Token);
        if (deadline)
            linked.CancelAfter(_deadline);
        try
        {
            return await AgentCalls.RunAsync(() => call(Client, linked.Token), _diagnostics).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && Volatile.Read(ref _closed) == 0)
        {
            await MarkBrokenAsync($"its agent did not answer {method} within {_deadline.TotalSeconds:0} s").ConfigureAwait(false);
            throw BrokenError(null);
        }
        catch (SandboxException e) when (e.Code == SandboxErrorCode.Unavailable && Volatile.Read(ref _closed) == 0)
        {
            await MarkBrokenAsync($"the connection to its agent was lost ({e.Message})").ConfigureAwait(false);
            throw BrokenError(e);
        }
    }

    private void ThrowIfBroken()
    {
        if (BrokenReason is not null)
            throw BrokenError(null);
    }

    private SandboxException BrokenError(Exception? inner) => new(SandboxErrorCode.Unavailable,
        $"sandbox {_id} is broken: {BrokenReason}; nothing in it is supervised any more (it was killed), delete it", inner);

    private void Heartbeat()
    {
        if (Volatile.Read(ref _longPolls) == 0 || BrokenReason is not null || Volatile.Read(ref _closed) != 0
            || Interlocked.Exchange(ref _pinging, 1) != 0)
            return;
        _ = PingAsync();
    }

    private async Task PingAsync()
    {
        try
        {
            await CallAsync("Ping", (c, t) => c.PingAsync(t), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Marked broken by the call itself; the long polls learn it from their own calls.
        }
        finally
        {
            Volatile.Write(ref _pinging, 0);
        }
    }
}
