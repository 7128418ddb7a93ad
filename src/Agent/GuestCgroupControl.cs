using Sandbox.Agent.Interop;
using Sandbox.AgentProtocol.V1;
using Sandbox.Ttrpc;

namespace Sandbox.Agent;

/// <summary>A workload's cgroup in the guest acted on alone (ControlContainer): pause and resume (cgroup.freeze), new
/// limits, a signal to every process of it and the list of them. Each container of a pod has one (its
/// <c>pod-ID</c> cgroup, its holder left out); so has the guest's own workload (<c>/sys/fs/cgroup/sandbox</c>, list and
/// signal only: the host pauses and limits that VM as a whole). The agent is in a workload's cgroup only for the instant
/// of a spawn, under <see cref="GuestConfinement.CgroupSpawnLock"/>, which every action here takes: it is never listed
/// or signalled.</summary>
internal sealed class GuestCgroupControl(string name, string cgroup, int holderPid, bool listAndSignalOnly)
{
    private static readonly TimeSpan s_freezeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Written under <see cref="GuestConfinement.CgroupSpawnLock"/> only.</summary>
    private bool _frozen;

    /// <summary>Paused (FREEZE): read under <see cref="GuestConfinement.CgroupSpawnLock"/>, the agent never enters the
    /// cgroup to spawn then (it would freeze with it).</summary>
    public bool Frozen => _frozen;

    public ControlContainerResponse Control(ControlContainerRequest request)
    {
        var response = new ControlContainerResponse();
        if (listAndSignalOnly && request.Action is not (ControlContainerRequest.Types.Action.Signal or ControlContainerRequest.Types.Action.List))
            throw new TtrpcException(StatusCode.InvalidArgument, $"{name}: {request.Action} acts on the VM as a whole (the host's pause or limits), not here");
        try
        {
            switch (request.Action)
            {
                case ControlContainerRequest.Types.Action.Freeze:
                    lock (GuestConfinement.CgroupSpawnLock)
                    {
                        Freeze();
                        _frozen = true;
                    }
                    break;
                case ControlContainerRequest.Types.Action.Thaw:
                    lock (GuestConfinement.CgroupSpawnLock)
                    {
                        File.WriteAllText(Path.Combine(cgroup, "cgroup.freeze"), "0");
                        _frozen = false;
                    }
                    break;
                case ControlContainerRequest.Types.Action.Update:
                    Update(request);
                    break;
                case ControlContainerRequest.Types.Action.Signal:
                    Signal(request.Signal);
                    break;
                case ControlContainerRequest.Types.Action.List:
                    // Under the spawn lock: the agent is not in the cgroup meanwhile.
                    lock (GuestConfinement.CgroupSpawnLock)
                    {
                        foreach (var pid in Workload())
                        {
                            if (InnerPid(pid) is { } inner)
                                response.Pids.Add(inner);
                        }
                    }
                    break;
                default:
                    throw new TtrpcException(StatusCode.InvalidArgument, $"{name}: unknown action {request.Action}");
            }
        }
        catch (IOException e)
        {
            throw new TtrpcException(StatusCode.Internal, $"{name}: {request.Action}: {e.Message}");
        }
        return response;
    }

    private void Update(ControlContainerRequest request)
    {
        if (request.MemoryBytes <= 0 || request.PidsMax <= 0 || request.CpuQuotaUsec < 0)
            throw new TtrpcException(StatusCode.InvalidArgument, $"{name}: memory and pids limits must be positive, the cpu quota not negative");
        File.WriteAllText(Path.Combine(cgroup, "memory.max"), request.MemoryBytes.ToString());
        File.WriteAllText(Path.Combine(cgroup, "pids.max"), request.PidsMax.ToString());
        if (File.Exists(Path.Combine(cgroup, "cpu.max")))
            File.WriteAllText(Path.Combine(cgroup, "cpu.max"), request.CpuQuotaUsec > 0 ? $"{request.CpuQuotaUsec} 100000" : "max 100000");
    }

    /// <summary>Signals the workload with the cgroup frozen (no listed pid can exit and be reused meanwhile); a paused
    /// cgroup stays paused. A fatal signal kills a frozen task at once, the others land on thaw.</summary>
    private void Signal(int signal)
    {
        if (signal is < 1 or > 64)
            throw new TtrpcException(StatusCode.InvalidArgument, $"signal {signal} is out of range [1, 64]");
        lock (GuestConfinement.CgroupSpawnLock)
        {
            if (!_frozen)
                Freeze();
            try
            {
                foreach (var pid in Workload())
                    Libc.kill(pid, signal);
            }
            finally
            {
                if (!_frozen)
                    File.WriteAllText(Path.Combine(cgroup, "cgroup.freeze"), "0");
            }
        }
    }

    /// <summary>Every process in the cgroup but its holder, by guest pid.</summary>
    private List<int> Workload() =>
        File.ReadAllText(Path.Combine(cgroup, "cgroup.procs")).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(int.Parse).Where(pid => pid != holderPid).ToList();

    private void Freeze()
    {
        File.WriteAllText(Path.Combine(cgroup, "cgroup.freeze"), "1");
        var deadline = Environment.TickCount64 + (long)s_freezeTimeout.TotalMilliseconds;
        while (!File.ReadLines(Path.Combine(cgroup, "cgroup.events")).Contains("frozen 1"))
        {
            if (Environment.TickCount64 > deadline)
            {
                File.WriteAllText(Path.Combine(cgroup, "cgroup.freeze"), "0");
                throw new TtrpcException(StatusCode.DeadlineExceeded, $"{name}: its cgroup did not freeze within {s_freezeTimeout.TotalSeconds} s");
            }
            Thread.Sleep(2);
        }
    }

    /// <summary>The pid a guest process has in its own pid namespace (a container's, a pod VM's own workload's, else
    /// the guest's): NSpid's last entry; null when it is gone.</summary>
    private static int? InnerPid(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("NSpid:", StringComparison.Ordinal)
                    && int.TryParse(line[6..].Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[^1], out var inner))
                    return inner;
            }
        }
        catch (IOException)
        {
        }
        return null;
    }
}
