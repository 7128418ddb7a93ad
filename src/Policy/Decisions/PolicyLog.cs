using Microsoft.Extensions.Logging;

namespace Sandbox.Policy;

/// <summary>Decision log: id, revision, outcome and reasons — never input values.</summary>
internal static partial class PolicyLog
{
    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Policy decision {DecisionId} (revision {BundleRevision}, engine {Engine}): allow={Allow} isolation={Isolation} reasons={Reasons}")]
    public static partial void Decision(ILogger logger, string decisionId, string? bundleRevision, string engine, bool allow, string isolation, IReadOnlyList<string> reasons);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Warning, Message = "Policy decision {DecisionId} failed closed: {ErrorCode}")]
    public static partial void FailedClosed(ILogger logger, string decisionId, string errorCode);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "OPA request to {Path} returned {StatusCode}; retry {Attempt} of {MaxRetries} in {DelayMs} ms")]
    public static partial void Retrying(ILogger logger, string path, int statusCode, int attempt, int maxRetries, double delayMs);
}
