using Sandbox.Agent.Interop;
using Sandbox.Ttrpc;

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
        int* ready = stackalloc int[2];
        if (Libc.pipe2(ready, Libc.O_CLOEXEC) != 0) throw GuestSetup.Fail("pipe2");
        int pid = -1;
        int writeEnd = ready[1];
        try
        {
            pid = GuestConfinement.OnThread(() =>
            {
                if (Libc.unshare(Libc.CLONE_FS | HolderNamespaces.UnshareFlags) != 0) throw GuestSetup.Fail("unshare");
                // Nothing the holder unmounts or mounts propagates back into the agent's namespace.
                GuestInit.Mount("none", "/", null, Libc.MS_REC | Libc.MS_PRIVATE, null);
                return GuestContainer.SpawnHolder(guest, writeEnd, "/");
            });
            Libc.close(ready[1]);
            ready[1] = -1;
            var answer = GuestContainer.ReadAll(ready[0]);
            if (answer != "ok")
                throw new TtrpcException(StatusCode.Internal, $"the pod's own workload: its init did not start: {(answer.Length == 0 ? "it exited" : answer)}");
            var namespaces = HolderNamespaces.Open(pid);
            AgentLog.Info($"the pod's own workload: holder pid {pid}");
            return (pid, namespaces);
        }
        catch
        {
            if (pid > 0) Libc.kill(pid, Libc.SIGKILL);
            throw;
        }
        finally
        {
            if (ready[0] >= 0) Libc.close(ready[0]);
            if (ready[1] >= 0) Libc.close(ready[1]);
        }
    }
}
