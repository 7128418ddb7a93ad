using Sandbox.Ttrpc;

namespace Sandbox.Isolation.Agent;

/// <summary>Maps the agent's ttrpc statuses to the engine's error codes, at one place.</summary>
internal static class AgentCalls
{
    /// <param name="diagnostics">What the agent (or the guest console) last wrote, quoted when the connection is lost;
    /// passed by each caller (no ambient state).</param>
    public static async Task<T> RunAsync<T>(Func<Task<T>> call, Func<string>? diagnostics = null)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (TtrpcException e)
        {
            var detail = e.Code == StatusCode.Unavailable && diagnostics?.Invoke() is { Length: > 0 } tail ? $"; agent stderr: {tail}" : "";
            throw new SandboxException(Map(e.Code), e.StatusMessage + detail, e);
        }
        catch (AgentProtocolException e)
        {
            throw new SandboxException(SandboxErrorCode.Internal, $"the sandbox agent broke the protocol: {e.Message}", e);
        }
    }

    public static Task RunAsync(Func<Task> call, Func<string>? diagnostics = null) => RunAsync(async () =>
    {
        await call().ConfigureAwait(false);
        return true;
    }, diagnostics);

    private static SandboxErrorCode Map(StatusCode code) => code switch
    {
        StatusCode.InvalidArgument => SandboxErrorCode.InvalidArgument,
        StatusCode.NotFound => SandboxErrorCode.NotFound,
        StatusCode.AlreadyExists => SandboxErrorCode.AlreadyExists,
        StatusCode.PermissionDenied => SandboxErrorCode.PermissionDenied,
        StatusCode.ResourceExhausted => SandboxErrorCode.ResourceExhausted,
        StatusCode.FailedPrecondition => SandboxErrorCode.FailedPrecondition,
        StatusCode.Unimplemented => SandboxErrorCode.Unimplemented,
        StatusCode.Unavailable => SandboxErrorCode.Unavailable,
        _ => SandboxErrorCode.Internal,
    };
}
