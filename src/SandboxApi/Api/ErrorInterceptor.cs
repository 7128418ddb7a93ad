using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;
using Sandbox.Api.V1;
using Sandbox.Isolation;
using Sandbox.Core;
using Status = Grpc.Core.Status;

namespace Sandbox.SandboxApi.Api;

/// <summary>The one place engine and service errors become gRPC statuses. Every error leaves with a google.rpc.Status
/// in its trailers whose first detail is a google.rpc.ErrorInfo naming an <see cref="ErrorReason"/>; a policy denial
/// adds its PolicyExplanation (and, for plain clients, its decision id and reasons as trailers). A permanent refusal is
/// FAILED_PRECONDITION, never UNAVAILABLE (which generic clients retry): the engine's Unavailable means "this host
/// cannot", so it maps there. A cancelled call stays CANCELLED (logged at Information); anything unexpected is
/// INTERNAL, logged once here with its stack.</summary>
public sealed partial class ErrorInterceptor(ILogger<ErrorInterceptor> logger) : Interceptor
{
    public const string ReasonsTrailer = "sandbox-policy-reasons";
    public const string DecisionTrailer = "sandbox-policy-decision-id";
    /// <summary>The ErrorInfo domain of every error this service sends.</summary>
    public const string Domain = "sandboxd";
    private const string DetailsTrailer = "grpc-status-details-bin";

    private async Task<T> Guard<T>(Func<Task<T>> call, ServerCallContext context)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (RpcException e) when (e.Trailers.Get(DetailsTrailer) is null)
        {
            // Raised before the service ran (authentication) or by the framework: same shape as ours.
            var trailers = new Metadata();
            foreach (var entry in e.Trailers)
                trailers.Add(entry);
            throw Build(e.StatusCode, ReasonFor(e.StatusCode), e.Status.Detail, trailers);
        }
        catch (Exception e) when (e is not RpcException)
        {
            throw Map(e, context);
        }
    }

    internal RpcException Map(Exception e, ServerCallContext context)
    {
        switch (e)
        {
            case PolicyDeniedException denied:
                var trailers = new Metadata { { DecisionTrailer, denied.Decision.DecisionId } };
                foreach (var reason in denied.Decision.Reasons)
                    trailers.Add(ReasonsTrailer, ToAscii(reason));
                return Build(StatusCode.PermissionDenied, ErrorReason.PolicyDenied, denied.Message, trailers,
                    new Dictionary<string, string> { ["decision_id"] = denied.Decision.DecisionId, ["bundle_revision"] = denied.Decision.BundleRevision ?? "" },
                    Mapping.ToProto(denied.Decision));
            case ReasonedException r:
                return Build(ToStatus(r.Code), r.Reason, r.Message);
            case TierUnavailableException t:
                return Build(StatusCode.FailedPrecondition, ErrorReason.TierUnavailable, t.Message);
            case SandboxStateException s:
                return Build(StatusCode.FailedPrecondition, ErrorReason.InvalidState, s.Message,
                    metadata: new Dictionary<string, string> { ["state"] = s.State.ToString().ToLowerInvariant() });
            case SandboxException s:
                if (s.Code == SandboxErrorCode.Internal)
                    Log.Internal(logger, context.Method, e);
                var code = ToStatus(s.Code);
                return Build(code, ReasonFor(code), s.Message);
            case OperationCanceledException when context.CancellationToken.IsCancellationRequested:
                Log.Cancelled(logger, context.Method);
                return Build(StatusCode.Cancelled, ErrorReason.CancelledByClient, "the call was cancelled");
            case OperationCanceledException:
                return Build(StatusCode.Aborted, ErrorReason.SandboxGone, "the sandbox went away during the call (deleted or expired)");
            default:
                Log.Internal(logger, context.Method, e);
                return Build(StatusCode.Internal, ErrorReason.InternalError, $"internal error ({e.GetType().Name}); see the sandboxd log");
        }
    }

    /// <summary>The engine's error classes as wire codes. Unavailable is a refusal of this host (no such tier, no
    /// controller, no kernel): permanent, so FAILED_PRECONDITION.</summary>
    public static StatusCode ToStatus(SandboxErrorCode code) => code switch
    {
        SandboxErrorCode.InvalidArgument => StatusCode.InvalidArgument,
        SandboxErrorCode.NotFound => StatusCode.NotFound,
        SandboxErrorCode.AlreadyExists => StatusCode.AlreadyExists,
        SandboxErrorCode.FailedPrecondition => StatusCode.FailedPrecondition,
        SandboxErrorCode.ResourceExhausted => StatusCode.ResourceExhausted,
        SandboxErrorCode.Unavailable => StatusCode.FailedPrecondition,
        SandboxErrorCode.PermissionDenied => StatusCode.PermissionDenied,
        SandboxErrorCode.Unimplemented => StatusCode.Unimplemented,
        _ => StatusCode.Internal,
    };

    /// <summary>The reason when nothing more specific is known. NOT_FOUND defaults to the sandbox (the registry is
    /// the one place that throws it unclassified); file and program lookups are classified where they happen.</summary>
    private static ErrorReason ReasonFor(StatusCode code) => code switch
    {
        StatusCode.InvalidArgument => ErrorReason.InvalidField,
        StatusCode.NotFound => ErrorReason.SandboxNotFound,
        StatusCode.AlreadyExists => ErrorReason.AlreadyExists,
        StatusCode.FailedPrecondition or StatusCode.Unimplemented => ErrorReason.NotSupported,
        StatusCode.ResourceExhausted => ErrorReason.QuotaExceeded,
        StatusCode.PermissionDenied => ErrorReason.PolicyDenied,
        StatusCode.Unauthenticated => ErrorReason.UnauthenticatedCaller,
        StatusCode.Cancelled => ErrorReason.CancelledByClient,
        StatusCode.Aborted => ErrorReason.SandboxGone,
        StatusCode.Unavailable or StatusCode.DeadlineExceeded => ErrorReason.Transient,
        _ => ErrorReason.InternalError,
    };

    private static RpcException Build(StatusCode code, ErrorReason reason, string message, Metadata? trailers = null,
        IReadOnlyDictionary<string, string>? metadata = null, IMessage? extra = null)
    {
        var info = new ErrorInfo { Reason = ReasonName(reason), Domain = Domain };
        foreach (var (k, v) in metadata ?? new Dictionary<string, string>())
            info.Metadata[k] = v;
        var status = new Google.Rpc.Status { Code = (int)code, Message = message, Details = { Any.Pack(info) } };
        if (extra is not null)
            status.Details.Add(Any.Pack(extra));
        trailers ??= [];
        trailers.Add(DetailsTrailer, status.ToByteArray());
        return new RpcException(new Status(code, message), trailers);
    }

    /// <summary>The enum value's name as written in the proto ("SANDBOX_NOT_FOUND").</summary>
    public static string ReasonName(ErrorReason reason) =>
        SandboxReflection.Descriptor.FindTypeByName<Google.Protobuf.Reflection.EnumDescriptor>("ErrorReason").FindValueByNumber((int)reason)?.Name ?? "ERROR_REASON_UNSPECIFIED";

    /// <summary>Metadata values must be printable ASCII.</summary>
    private static string ToAscii(string s) => new(s.Select(c => c is >= ' ' and <= '~' ? c : '?').ToArray());

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation) =>
        Guard(() => continuation(request, context), context);

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation) =>
        Guard(() => continuation(requestStream, context), context);

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation) =>
        Guard(async () => { await continuation(request, responseStream, context).ConfigureAwait(false); return true; }, context);

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation) =>
        Guard(async () => { await continuation(requestStream, responseStream, context).ConfigureAwait(false); return true; }, context);

    private static partial class Log
    {
        [LoggerMessage(2001, LogLevel.Error, "Call {Method} failed")]
        public static partial void Internal(ILogger logger, string method, Exception exception);

        [LoggerMessage(2002, LogLevel.Information, "Call {Method} was cancelled by the client or its deadline")]
        public static partial void Cancelled(ILogger logger, string method);
    }
}
