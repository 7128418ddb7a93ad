using Sandbox.Core;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Sandbox.SandboxApi.Auth;

/// <summary>Authenticates every call to the sandbox API before its handler runs; the principal is then available
/// through <see cref="CallPrincipal.Get"/>. Health and reflection are open (they reveal nothing about sandboxes).</summary>
public sealed class AuthInterceptor(IPrincipalResolver resolver) : Interceptor
{
    private const string UserStateKey = "sandbox.principal";

    private void Authenticate(ServerCallContext context)
    {
        if (context.Method.StartsWith("/grpc.health.", StringComparison.Ordinal) || context.Method.StartsWith("/grpc.reflection.", StringComparison.Ordinal))
            return;
        var principal = resolver.Resolve(context.GetHttpContext())
            ?? throw new RpcException(new Status(StatusCode.Unauthenticated,
                "caller is not a known tenant (unix socket: map its uid in tenants[].uids; TCP: send a bearer token listed in tenants[].token_sha256, or with listen.tls_client_ca a client certificate whose subject CN is a listed tenant)"));
        context.UserState[UserStateKey] = principal;
    }

    internal static Principal? Find(ServerCallContext context) =>
        context.UserState.TryGetValue(UserStateKey, out var p) ? (Principal)p : null;

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(request, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(requestStream, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(request, responseStream, context);
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(requestStream, responseStream, context);
    }
}

public static class CallPrincipal
{
    /// <summary>The authenticated principal of this call (set by <see cref="AuthInterceptor"/>).</summary>
    public static Principal Get(ServerCallContext context) =>
        AuthInterceptor.Find(context) ?? throw new InvalidOperationException("AuthInterceptor did not run for " + context.Method);
}
