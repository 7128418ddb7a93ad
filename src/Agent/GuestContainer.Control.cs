using Sandbox.Agent.Interop;
using Sandbox.AgentProtocol.V1;
using Sandbox.Ttrpc;

namespace Sandbox.Agent;

/// <summary>One container of the pod acted on alone, through its cgroup (ControlContainer): pause and resume
/// (cgroup.freeze), new limits, a signal to its whole workload and the list of it. Pausing a container is not pausing the
/// pod's VM: the other containers and the agent go on.</summary>
internal sealed partial class GuestContainer
{
    private static readonly TimeSpan s_freezeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Written under <see cref="GuestConfinement.CgroupSpawnLock"/> only.</summary>
    private bool _frozen;

    public ControlContainerResponse Control(ControlContainerRequest request)
    {
        var response = new ControlContainerResponse();
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
                        File.WriteAllText(Path.Combine(Cgroup, "cgroup.freeze"), "0");
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
                    foreach (var pid in Workload())
                    {
                        if (InnerPid(pid) is { } inner)
                            response.Pids.Add(inner);
                    }
                    break;
                default:
                    throw new TtrpcException(StatusCode.InvalidArgument, $"container {Id}: unknown action {request.Action}");
            }
        }
        catch (IOException e)
        {
            throw new TtrpcException(StatusCode.Internal, $"container {Id}: {request.Action}: {e.Message}");
        }
        return response;
    }

    private void Update(ControlContainerRequest request)
    {
        if (request.MemoryBytes <= 0 || request.PidsMax <= 0 || request.CpuQuotaUsec < 0)
            throw new TtrpcException(StatusCode.InvalidArgument, $"container {Id}: memory and pids limits must be positive, the cpu quota not negative");
        File.WriteAllText(Path.Combine(Cgroup, "memory.max"), request.MemoryBytes.ToString());
        File.WriteAllText(Path.Combine(Cgroup, "pids.max"), request.PidsMax.ToString());
        if (File.Exists(Path.Combine(Cgroup, "cpu.max")))
            File.WriteAllText(Path.Combine(Cgroup, "cpu.max"), request.CpuQuotaUsec > 0 ? $"{request.CpuQuotaUsec} 100000" : "max 100000");
    }

    /// <summary>Signals the workload with the cgroup frozen (no listed pid can exit and be reused meanwhile); a paused
    /// container stays paused. A fatal signal kills a frozen task at once, the others land on thaw.</summary>
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
                    File.WriteAllText(Path.Combine(Cgroup, "cgroup.freeze"), "0");
            }
        }
    }

    /// <summary>Every process in the container's cgroup but its holder, by guest pid.</summary>
    private List<int> Workload() =>
        File.ReadAllText(Path.Combine(Cgroup, "cgroup.procs")).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(int.Parse).Where(pid => pid != HolderPid).ToList();

    private void Freeze()
    {
        File.WriteAllText(Path.Combine(Cgroup, "cgroup.freeze"), "1");
        var deadline = Environment.TickCount64 + (long)s_freezeTimeout.TotalMilliseconds;
        while (!File.ReadLines(Path.Combine(Cgroup, "cgroup.events")).Contains("frozen 1"))
        {
            if (Environment.TickCount64 > deadline)
            {
                File.WriteAllText(Path.Combine(Cgroup, "cgroup.freeze"), "0");
                throw new TtrpcException(StatusCode.DeadlineExceeded, $"container {Id}: its cgroup did not freeze within {s_freezeTimeout.TotalSeconds} s");
            }
            Thread.Sleep(2);
        }
    }

    /// <summary>The pid a guest process has in its own (the container's) pid namespace: NSpid's last entry; null when
    /// it is gone.</summary>
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
