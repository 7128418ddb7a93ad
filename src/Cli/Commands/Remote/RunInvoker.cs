using System.Runtime.CompilerServices;
using Grpc.Core;
using Grpc.Net.Client;
using Sandbox.Api.V1;

namespace Sandbox.Cli.Commands.Remote;

/// <summary>Starts the one-shot Run call by calling Grpc.Net.Client's own invoker directly. Through CallInvoker's
/// generic virtual method, NativeAOT builds the target's generic dictionary, and the types it names (the call, its
/// reader and writer), at run time on every process's first call: about a sixth of `sandbox run`'s CPU (README
/// "Benchmarks"). Called directly with its exact type arguments, that dictionary is compiled in. The invoker is made here
/// by its own constructor, so its method is only ever called on its own type; a Grpc.Net.Client without that type or
/// constructor (a MissingMemberException) gets the virtual call; tests/Cli.Tests RunInvokerTests fails when an upgrade
/// of Grpc.Net.Client takes either away, so the fallback never goes unnoticed.</summary>
public static class RunInvoker
{
    public const string InvokerType = "Grpc.Net.Client.Internal.HttpClientCallInvoker, Grpc.Net.Client";

    [UnsafeAccessor(UnsafeAccessorKind.Constructor)]
    [return: UnsafeAccessorType(InvokerType)]
    private static extern object NewInvoker(GrpcChannel channel);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = nameof(CallInvoker.AsyncDuplexStreamingCall))]
    private static extern AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(
        [UnsafeAccessorType(InvokerType)] object invoker, Method<TRequest, TResponse> method, string? host, CallOptions options)
        where TRequest : class
        where TResponse : class;

    public static AsyncDuplexStreamingCall<RunRequest, ExecEvent> Start(GrpcChannel channel)
    {
        object invoker;
        try
        {
            invoker = NewInvoker(channel);
        }
        catch (MissingMemberException)
        {
            return channel.CreateCallInvoker().AsyncDuplexStreamingCall(Sandboxes.RunMethod, null, new CallOptions());
        }
        return AsyncDuplexStreamingCall(invoker, Sandboxes.RunMethod, null, new CallOptions());
    }
}
