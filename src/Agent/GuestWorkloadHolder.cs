using Sandbox.Agent.Interop;

namespace Sandbox.Agent;

/// <summary>
/// A pod VM's own workload (CRI's pause container, the guest's root) in mount, pid, UTS and IPC namespaces of its own,
/// as each of the pod's app containers gets (<see cref="GuestContainer"/>): without them its processes would run in the
/// guest's root pid namespace and could see (hidepid shows the same uid's) and signal the app containers' processes.
/// Made at set-up, before anything of the workload runs: a thread unshares the namespaces and starts the holder
/// (<see cref="PodContainerInit"/> with the guest's root "/": it stays there, detaches the guest's /proc and /sys in its
/// mount namespace and mounts a /proc of its own pid namespace). The holder sits in the guest's root cgroup, not the
/// workload's, so its threads take nothing of the workload's pids limit; every spawn of the workload enters its
/// namespaces (<see cref="GuestSetup.Spawn"/>).
/// </summary>
internal static unsafe class GuestWorkloadHolder
{
    public static (int Pid, HolderNamespaces Namespaces) Start(GuestSetup guest)
    {
        int pid = GuestContainer.StartHolderInNewNamespaces("the pod's own workload",
            readyFd => GuestContainer.SpawnHolder(guest, readyFd, "/"));
        try
        {
            var namespaces = HolderNamespaces.Open(pid);
            AgentLog.Info($"the pod's own workload: holder pid {pid}");
            return (pid, namespaces);
        }
        catch
        {
            Libc.kill(pid, Libc.SIGKILL);
            throw;
        }
    }
}
