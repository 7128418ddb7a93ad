using System.Runtime.InteropServices;

namespace Sandbox.Agent;

/// <summary>
/// A container's agent runs as PID 1 of the sandbox's pid namespace (bwrap --as-pid-1), where the kernel drops every
/// signal sent from inside the namespace whose disposition is the default: the workload cannot SIGKILL or SIGSTOP it.
/// Signals with a handler are still delivered, and the .NET runtime installs handlers for the termination signals
/// (its default action then ends the process). Cancelling them here keeps the agent alive; the host ends it with
/// Shutdown, by closing the channel, or by killing the sandbox's cgroup from outside the namespace.
/// </summary>
internal static class InitSignals
{
    private static readonly List<PosixSignalRegistration> s_registrations = [];

    public static void IgnoreTermination()
    {
        foreach (var signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGINT, PosixSignal.SIGQUIT, PosixSignal.SIGHUP })
            s_registrations.Add(PosixSignalRegistration.Create(signal, context => context.Cancel = true));
    }
}
