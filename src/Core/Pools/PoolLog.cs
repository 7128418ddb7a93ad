using Microsoft.Extensions.Logging;

namespace Sandbox.Core;

internal static partial class PoolLog
{
    [LoggerMessage(1101, LogLevel.Information, "Pool {Pool}: {Size} {Tier} sandbox(es) of decision {DecisionId} kept warm")]
    public static partial void Started(ILogger logger, string pool, int size, string tier, string decisionId);

    [LoggerMessage(1102, LogLevel.Warning, "Pool {Pool} is off: {Why}")]
    public static partial void Off(ILogger logger, string pool, string why);

    [LoggerMessage(1103, LogLevel.Warning, "Pool {Pool}: creating sandbox {SandboxId} failed; next try in {BackoffS:0} s")]
    public static partial void RefillFailed(ILogger logger, string pool, string sandboxId, double backoffS, Exception exception);

    [LoggerMessage(1104, LogLevel.Information, "Pool {Pool}: {Count} sandbox(es) past their TTL or dead replaced")]
    public static partial void Replaced(ILogger logger, string pool, int count);

    [LoggerMessage(1105, LogLevel.Warning, "Pooled sandbox {SandboxId}: teardown failed")]
    public static partial void TeardownFailed(ILogger logger, string sandboxId, Exception exception);

    [LoggerMessage(1106, LogLevel.Information, "Pooled sandbox {SandboxId} of pool {Pool} could not take its claimant's limits; launching afresh: {Why}")]
    public static partial void ClaimFailed(ILogger logger, string sandboxId, string pool, string why);
}
