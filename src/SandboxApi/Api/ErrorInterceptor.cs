using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;
using Sandbox.Isolation;
using Sandbox.Core;

namespace Sandbox.SandboxApi.Api;

/// <summary>The one place engine and service errors become gRPC statuses. SandboxException codes map one to one;
/// a policy denial adds its decision id and reasons as trailers; a cancelled call stays CANCELLED (logged at
/// Information); anything else is INTERNAL, logged once here with its stack.</summary>
public sealed partial class ErrorInterceptor(ILogger<ErrorInterceptor> logger) : Interceptor
{
    public const string ReasonsTrailer = "sandbox-policy-reasons";
    public const string DecisionTrailer = "sandbox-policy-decision-id";

    private async Task<T> Guard<T>(Func<Task<T>> call, ServerCallContext context)
    {
        try
        {
            return await call().ConfigureAwait(false);
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
                return new RpcException(new Status(StatusCode.PermissionDenied, denied.Message), trailers);
            case SandboxException s:
                if (s.Code == SandboxErrorCode.Internal)
                    Log.Internal(logger, context.Method, e);
                return new RpcException(new Status(ToStatus(s.Code), s.Message));
            case OperationCanceledException when context.CancellationToken.IsCancellationRequested:
                Log.Cancelled(logger, context.Method);
                return new RpcException(new Status(StatusCode.Cancelled, "the call was cancelled"));
            case OperationCanceledException:
                return new RpcException(new Status(StatusCode.Unavailable, "the sandbox went away during the call (deleted or expired)"));
            default:
                Log.Internal(logger, context.Method, e);
                return new RpcException(new Status(StatusCode.Internal, $"internal error ({e.GetType().Name}); see the sandboxd log"));
        }
    }

    public static StatusCode ToStatus(SandboxErrorCode code) => code switch
    {
        SandboxErrorCode.InvalidArgument => StatusCode.InvalidArgument,
        SandboxErrorCode.NotFound => StatusCode.NotFound,
        SandboxErrorCode.AlreadyExists => StatusCode.AlreadyExists,
        SandboxErrorCode.FailedPrecondition => StatusCode.FailedPrecondition,
        SandboxErrorCode.ResourceExhausted => StatusCode.ResourceExhausted,
        SandboxErrorCode.Unavailable => StatusCode.Unavailable,
        SandboxErrorCode.PermissionDenied => StatusCode.PermissionDenied,
        SandboxErrorCode.Unimplemented => StatusCode.Unimplemented,
        _ => StatusCode.Internal,
    };

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
