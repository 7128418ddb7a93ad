using Sandbox.Api.V1;
using Sandbox.Isolation;
using Sandbox.Core;

namespace Sandbox.SandboxApi.Api;

/// <summary>Classifies failures of starting a program (Exec, Run), once the sandbox is known to exist: NotFound is
/// the program (PROGRAM_NOT_FOUND, a shell's 127), the engine's PermissionDenied is an exec that the kernel refused
/// (PROGRAM_NOT_EXECUTABLE, a shell's 126; a policy denial keeps its own type).</summary>
internal static class ProgramErrors
{
    public static async Task<T> ClassifyAsync<T>(Func<Task<T>> start)
    {
        try
        {
            return await start().ConfigureAwait(false);
        }
        catch (SandboxException e) when (e.Code == SandboxErrorCode.NotFound && e is not ReasonedException)
        {
            throw new ReasonedException(SandboxErrorCode.NotFound, ErrorReason.ProgramNotFound, e.Message, e);
        }
        catch (SandboxException e) when (e.Code == SandboxErrorCode.PermissionDenied && e is not (PolicyDeniedException or ReasonedException))
        {
            throw new ReasonedException(SandboxErrorCode.FailedPrecondition, ErrorReason.ProgramNotExecutable, e.Message, e);
        }
    }
}
