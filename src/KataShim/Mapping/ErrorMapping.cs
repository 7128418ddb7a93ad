using Sandbox.Isolation;
using Sandbox.Ttrpc;

namespace Sandbox.KataShim.Mapping;

/// <summary>Engine and Core errors → ttrpc status, in one place (containerd turns the codes back into errdefs classes:
/// NotFound from Kill on an exited process is success to ctr and CRI, Unimplemented is "not implemented").</summary>
internal static class ErrorMapping
{
    public static TtrpcException ToTtrpc(SandboxException e) => new(e.Code switch
    {
        SandboxErrorCode.InvalidArgument => StatusCode.InvalidArgument,
        SandboxErrorCode.NotFound => StatusCode.NotFound,
        SandboxErrorCode.AlreadyExists => StatusCode.AlreadyExists,
        SandboxErrorCode.FailedPrecondition => StatusCode.FailedPrecondition,
        SandboxErrorCode.ResourceExhausted => StatusCode.ResourceExhausted,
        SandboxErrorCode.Unavailable => StatusCode.Unavailable,
        SandboxErrorCode.PermissionDenied => StatusCode.PermissionDenied,
        SandboxErrorCode.Unimplemented => StatusCode.Unimplemented,
        _ => StatusCode.Unknown,
    }, e.Message);

    public static TtrpcException NotFound(string what) => new(StatusCode.NotFound, what);
}
