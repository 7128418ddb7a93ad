using Grpc.Core;
using Grpc.Net.Client;
using Sandbox.Cli.Commands.Remote;

namespace Sandbox.Cli.Tests;

/// <summary><see cref="RunInvoker"/> starts `sandbox run`'s call on Grpc.Net.Client's own invoker, an internal type of
/// that library; where the type or its constructor is gone it falls back to the virtual call, correct but slower, and
/// nothing would say so. This says so when a Grpc.Net.Client upgrade moves either.</summary>
public sealed class RunInvokerTests
{
    [Fact]
    public void Grpc_Net_Clients_invoker_has_the_constructor_and_call_RunInvoker_uses()
    {
        var type = Type.GetType(RunInvoker.InvokerType);
        Assert.True(type is not null, $"{RunInvoker.InvokerType} is gone: `sandbox run` takes the slower virtual call (src/Cli/Commands/Remote/RunInvoker.cs)");
        Assert.True(typeof(CallInvoker).IsAssignableFrom(type));
        Assert.NotNull(type.GetConstructor(System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic,
            [typeof(GrpcChannel)]));
        var call = type.GetMethod(nameof(CallInvoker.AsyncDuplexStreamingCall));
        Assert.NotNull(call);
        Assert.Equal(typeof(CallInvoker), call.GetBaseDefinition().DeclaringType);
    }
}
