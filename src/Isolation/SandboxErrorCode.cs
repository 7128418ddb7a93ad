namespace Sandbox.Isolation;

/// <summary>Error classes, after containerd's errdefs; mapped to gRPC/ttrpc status codes once, at each face.</summary>
public enum SandboxErrorCode
{
    Internal,
    InvalidArgument,
    NotFound,
    AlreadyExists,
    FailedPrecondition,
    ResourceExhausted,
    Unavailable,
    PermissionDenied,
    Unimplemented,
}
