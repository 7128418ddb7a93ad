using Microsoft.Extensions.Logging;

namespace Sandbox.Isolation.MicroVm;

/// <summary>What the microVM tier decides on its own and a host operator should see (templates failing, cold boots).</summary>
internal static partial class MicroVmDriverLog
{
    [LoggerMessage(2001, LogLevel.Information, "Removed {Count} microVM snapshot template(s) unused for over {Days} days")]
    public static partial void TemplatesPruned(ILogger logger, int count, double days);

    [LoggerMessage(2002, LogLevel.Warning, "microVM snapshot template {Key} could not be built, cold-booting instead: {Reason}")]
    public static partial void TemplateBuildFailed(ILogger logger, string key, string reason);

    [LoggerMessage(2003, LogLevel.Warning, "Restoring microVM snapshot template {Key} failed; discarding it: {Reason}")]
    public static partial void TemplateDiscarded(ILogger logger, string key, string reason);

    [LoggerMessage(2004, LogLevel.Information, "microVM snapshot template {Key} failed {Seconds} s ago ({Reason}); cold-booting")]
    public static partial void TemplateRecentlyFailed(ILogger logger, string key, double seconds, string reason);
}
