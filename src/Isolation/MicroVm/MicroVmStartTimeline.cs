using Sandbox.AgentProtocol.V1;

namespace Sandbox.Isolation.MicroVm;

/// <summary>
/// Where a microVM's start went: the host's stages (from the driver's first step to the agent's answer, the set-up
/// call), each the time since the start on the host's clock, and the guest's stages as its agent reported them
/// (CLOCK_BOOTTIME inside the guest: since its kernel began to boot; a restored clone keeps its template's boot stages
/// and adds its own "ping", set-up and exec ones). <see cref="GuestPingAt"/> lines the two clocks up: the host's
/// time of the readiness ping's answer, which the guest stamped "ping".
/// </summary>
public sealed record MicroVmStartTimeline(IReadOnlyList<(string Stage, TimeSpan At)> Host, IReadOnlyList<(string Stage, TimeSpan Boottime)> Guest,
    TimeSpan? GuestPingAt)
{
    internal static IReadOnlyList<(string Stage, TimeSpan Boottime)> GuestStages(IEnumerable<BootStage> stages) =>
        stages.Select(s => (s.Name, TimeSpan.FromMicroseconds(s.BoottimeUs))).ToList();

    /// <summary>Every stage on the host's clock, in time order: the host's as they are, the guest's lined up through the
    /// readiness ping (none of them when the ping is unknown).</summary>
    public IReadOnlyList<(string Stage, TimeSpan At)> OnHostClock()
    {
        var ping = Guest.FirstOrDefault(g => g.Stage == "ping");
        var guest = GuestPingAt is { } p && ping.Stage is not null
            ? Guest.Select(g => ("guest " + g.Stage, p + g.Boottime - ping.Boottime))
            : [];
        return Host.Select(h => ("host " + h.Stage, h.At)).Concat(guest).OrderBy(s => s.Item2).ToList();
    }

    /// <summary>One line per stage: host stages as "+s", guest stages as their boot time and, once lined up with the
    /// host's clock through the readiness ping, the host time they correspond to.</summary>
    public string Format()
    {
        var lines = new List<string>();
        foreach (var (stage, at) in Host)
            lines.Add($"host  {stage,-22} +{at.TotalSeconds:0.000} s");
        var ping = Guest.FirstOrDefault(g => g.Stage == "ping");
        foreach (var (stage, boottime) in Guest)
        {
            var onHost = GuestPingAt is { } p && ping.Stage is not null ? $" (host +{(p + boottime - ping.Boottime).TotalSeconds:0.000} s)" : "";
            lines.Add($"guest {stage,-22} {boottime.TotalSeconds:0.000} s after kernel start{onHost}");
        }
        return string.Join('\n', lines);
    }
}
