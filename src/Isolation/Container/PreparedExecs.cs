using Sandbox.AgentProtocol.V1;
using Sandbox.Isolation.Agent;
using Sandbox.Isolation.Cgroups;

namespace Sandbox.Isolation.Container;

/// <summary>
/// A long-lived container's next exec, started ahead of its request: the agent starts the exec's first stage (its own
/// binary, its own identity, the exec's pipes, no program yet: the agent's Prepare) and the host moves it into the
/// exec's own cgroup, when the sandbox starts (a pool's sandbox waits until it is there, <see cref="IWarmUp"/>) and
/// after each exec has ended. The exec itself is then one agent call: the program runs in the placed first stage at once
/// (no Release, no cgroup made, no process started on the request's path). Only the cgroup placement moved: nothing of
/// any program runs before its Exec, and each exec still has a cgroup of its own. A terminal, a very large argv + env,
/// or an agent without Prepare (which turns this off for the sandbox) take the held path instead.
/// </summary>
internal sealed class PreparedExecs(ContainerInstance instance, AgentChannel channel, Func<string> nextExecId, CancellationToken disposing)
{
    /// <summary>The agent's bound for a prepared exec's argv + env (a pipe's worth, with room for the other fields).</summary>
    private const int MaxArgvEnvBytes = 40 * 1024;

    public sealed record Prepared(string ExecId, int Pid, ICgroup Cgroup);

    private readonly Lock _lock = new();
    private Task<Prepared?>? _next;
    private bool _stopped;
    /// <summary>The exec id (and cgroup name) of the one being prepared or prepared and not taken yet.</summary>
    private string? _pending;

    /// <summary>Whether <paramref name="execId"/> is an exec's first stage started ahead that no exec has taken yet: no
    /// program of the workload runs in its cgroup.</summary>
    public bool IsPending(string execId)
    {
        lock (_lock)
            return _pending == execId;
    }

    /// <summary>Starts preparing the next exec unless one is there (or on its way), or preparing has stopped.</summary>
    public void PrepareNext()
    {
        lock (_lock)
        {
            if (_stopped || _next is not null || disposing.IsCancellationRequested)
                return;
            // Pending from here, under the lock: set later (in PrepareAsync, after its yield), it could land after an
            // exec had already taken this one (TakeAsync clears it), and that exec's cgroup would then read as pending
            // — its processes left out of the workload (ListWorkloadProcessesAsync, SignalWorkloadAsync).
            var execId = nextExecId();
            _pending = execId;
            _next = PrepareAsync(execId);
        }
    }

    /// <summary>Nothing more is prepared (the sandbox is going, or its caller runs no further exec).</summary>
    public void Stop()
    {
        lock (_lock)
            _stopped = true;
    }

    /// <summary>Stops preparing and waits until an exec being prepared has settled: its cgroup may be being made right
    /// now, and the sandbox's cgroup can only go after its sub-cgroups (a sub-cgroup made during the sandbox's removal
    /// kept the sandbox's cgroup on the hierarchies it was made on). A prepared one is left to the sandbox's removal,
    /// which takes its sub-cgroups along.</summary>
    public async Task StopAsync()
    {
        Task<Prepared?>? next;
        lock (_lock)
        {
            _stopped = true;
            next = _next;
        }
        if (next is not null)
            await next.ConfigureAwait(false); // never throws: PrepareAsync answers null for every failure
    }

    /// <summary>Completes when the exec being prepared (if any) is ready, or has failed.</summary>
    public Task ReadyAsync(CancellationToken cancellationToken)
    {
        Task<Prepared?>? next;
        lock (_lock)
            next = _next;
        return next is null ? Task.CompletedTask : next.WaitAsync(cancellationToken);
    }

    /// <summary>The prepared exec for <paramref name="request"/>, now its own; null when none is, or the request
    /// needs the held path (a terminal, a very large argv + env).</summary>
    public async Task<Prepared?> TakeAsync(ExecRequest request, CancellationToken cancellationToken)
    {
        if (request.Tty is not null || ArgvEnvBytes(request) > MaxArgvEnvBytes)
            return null;
        Task<Prepared?>? next;
        lock (_lock)
        {
            next = _next;
            _next = null;
            _pending = null;
        }
        if (next is null)
            return null;
        // One still being prepared is nearer ready than a held exec started now. Not cancelled here: a caller that
        // gives up leaves it to the next exec.
        var prepared = await next.ConfigureAwait(false);
        if (prepared is not null && cancellationToken.IsCancellationRequested)
        {
            lock (_lock)
            {
                if (_next is null)
                {
                    _next = Task.FromResult<Prepared?>(prepared);
                    _pending = prepared.ExecId;
                    prepared = null;
                }
            }
            if (prepared is not null)
                await DiscardAsync(prepared.Cgroup).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
        return prepared;
    }

    private async Task<Prepared?> PrepareAsync(string execId)
    {
        await Task.Yield();
        lock (_lock)
            if (_stopped)
                return null;
        ICgroup? cgroup = null;
        try
        {
            cgroup = instance.Cgroup.CreateChild(execId, tasksOnly: true);
            var pid = await channel.CallAsync("Prepare", (c, t) => c.PrepareAsync(execId, t), disposing).ConfigureAwait(false);
            ExecPlacement.Place(instance, pid, cgroup);
            return new Prepared(execId, pid, cgroup);
        }
        catch (Exception)
        {
            // An agent without Prepare, a sandbox going away, a placement that failed: execs take the held path from
            // here on. (A first stage that was started but not placed waits, runs nothing, and goes with the sandbox.)
            Stop();
            if (cgroup is not null)
                await DiscardAsync(cgroup).ConfigureAwait(false);
            return null;
        }
    }

    /// <summary>Kills what is in a prepared exec's cgroup (its first stage, which ran nothing) and removes it.</summary>
    public static async Task DiscardAsync(ICgroup cgroup)
    {
        try
        {
            await cgroup.KillAllAsync(CancellationToken.None).ConfigureAwait(false);
            await cgroup.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The sandbox's own cgroup removal takes it.
        }
    }

    private static long ArgvEnvBytes(ExecRequest request) =>
        request.Argv.Sum(a => (long)a.Length * 3 + 1) + request.Env.Sum(e => (long)(e.Name.Length + e.Value.Length) * 3 + 2) + request.Cwd.Length * 3L;
}
