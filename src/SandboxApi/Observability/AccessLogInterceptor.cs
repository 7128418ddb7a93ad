using System.Diagnostics;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;
using Sandbox.SandboxApi.Auth;

namespace Sandbox.SandboxApi.Observability;

/// <summary>The outermost interceptor: one access-log line per call (method, tenant, status, duration) and the call
/// metrics. It sees the status the client gets, after <see cref="Api.ErrorInterceptor"/> mapped it.</summary>
public sealed partial class AccessLogInterceptor(CallMetrics metrics, ILogger<AccessLogInterceptor> logger) : Interceptor
{
    private async Task<T> Observe<T>(Func<Task<T>> call, ServerCallContext context)
    {
        var started = Stopwatch.GetTimestamp();
        var code = StatusCode.OK;
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            code = e.StatusCode;
            throw;
        }
        catch (Exception)
        {
            code = StatusCode.Unknown;
            throw;
        }
        finally
        {
            var elapsed = Stopwatch.GetElapsedTime(started);
            var tenant = AuthInterceptor.Find(context)?.Tenant ?? "-";
            var method = context.Method;
            metrics.Record(method, code.ToString(), tenant, elapsed);
            Log.Call(logger, method, tenant, code, elapsed.TotalMilliseconds);
        }
    }

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation) =>
        Observe(() => continuation(request, context), context);

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation) =>
        Observe(() => continuation(requestStream, context), context);

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation) =>
        Observe(async () => { await continuation(request, responseStream, context).ConfigureAwait(false); return true; }, context);

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation) =>
        Observe(async () => { await continuation(requestStream, responseStream, context).ConfigureAwait(false); return true; }, context);

    private static partial class Log
    {
        [LoggerMessage(2101, LogLevel.Information, "{Method} tenant={Tenant} status={Code} {ElapsedMs:0.0} ms")]
        public static partial void Call(ILogger logger, string method, string tenant, StatusCode code, double elapsedMs);
    }
}
