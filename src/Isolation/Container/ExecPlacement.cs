using Sandbox.Isolation.Cgroups;

namespace Sandbox.Isolation.Container;

/// <summary>
/// Puts a held exec into its own cgroup. The agent starts every exec held (its first stage waits for the go before
/// anything of the program runs) and reports its pid as seen inside the sandbox; the host finds that process among the
/// agent's children in the agent's cgroup (its NSpid's last entry is the reported pid) and moves it, and only then is
/// it released. The agent cannot make the host move anything else: only its own children in its own cgroup qualify.
/// </summary>
internal static class ExecPlacement
{
    public static void Place(ContainerInstance instance, int innerPid, ICgroup execCgroup)
    {
        var agentCgroup = instance.AgentCgroup
            ?? throw new SandboxException(SandboxErrorCode.Internal, $"sandbox {instance.Info.Id} has no agent cgroup to take execs from");
        foreach (var pid in agentCgroup.Pids())
        {
            if (pid == instance.Bwrap.Pid || pid == instance.InitPid)
                continue;
            if (Read(pid) is { } status && status.ParentPid == instance.InitPid && status.InnerPid == innerPid)
            {
                execCgroup.AddProcess(pid);
                return;
            }
        }
        throw new SandboxException(SandboxErrorCode.Internal,
            $"sandbox {instance.Info.Id}: the agent reported exec pid {innerPid}, but none of its held children has that pid");
    }

    public readonly record struct Status(int ParentPid, int InnerPid);

    /// <summary>PPid and the innermost NSpid (its pid as the sandbox sees it) of a host pid; null when it is gone.</summary>
    public static Status? Read(int pid)
    {
        try
        {
            int? parent = null, inner = null;
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("PPid:", StringComparison.Ordinal) && int.TryParse(line.AsSpan(5).Trim(), out var p))
                    parent = p;
                else if (line.StartsWith("NSpid:", StringComparison.Ordinal)
                    && int.TryParse(line[6..].Split('\t', ' ', StringSplitOptions.RemoveEmptyEntries)[^1], out var n))
                    inner = n;
            }
            return parent is { } pp && inner is { } ii ? new Status(pp, ii) : null;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
