using Sandbox.Api.V1;
using Sandbox.Isolation;

namespace Sandbox.SandboxApi.Api;

/// <summary>An engine failure the face has classified: <see cref="Reason"/> becomes the google.rpc.ErrorInfo reason
/// (sandbox vs file vs program not found, which the engine's codes alone do not tell apart).</summary>
internal sealed class ReasonedException(SandboxErrorCode code, ErrorReason reason, string message, Exception? inner = null)
    : SandboxException(code, message, inner)
{
    public ErrorReason Reason { get; } = reason;

    /// <summary>Runs <paramref name="call"/>; a NotFound from it is re-thrown carrying <paramref name="reason"/>.</summary>
    public static async Task<T> NotFoundAs<T>(ErrorReason reason, Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (SandboxException e) when (e.Code == SandboxErrorCode.NotFound && e is not ReasonedException)
        {
            throw new ReasonedException(SandboxErrorCode.NotFound, reason, e.Message, e);
        }
    }

    public static Task NotFoundAs(ErrorReason reason, Func<Task> call) =>
        NotFoundAs(reason, async () => { await call().ConfigureAwait(false); return true; });
}
