using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Sandbox.Api.V1;
using Sandbox.SandboxApi.Auth;

namespace Sandbox.SandboxApi.Api;

/// <summary>The running execs of a sandbox: list them, signal one by pid.</summary>
public sealed partial class SandboxesService
{
    public override Task<ListProcessesResponse> ListProcesses(ListProcessesRequest request, ServerCallContext context)
    {
        var id = Mapping.ParseId(request.SandboxId, "sandbox_id");
        var response = new ListProcessesResponse();
        foreach (var exec in sandboxes.ListExecs(CallPrincipal.Get(context), id))
        {
            var p = new ProcessInfo { Pid = exec.Pid, Tty = exec.Tty, StartTime = Timestamp.FromDateTimeOffset(exec.StartedAt) };
            p.Argv.AddRange(exec.Argv);
            response.Processes.Add(p);
        }
        return Task.FromResult(response);
    }

    public override async Task<SignalProcessResponse> SignalProcess(SignalProcessRequest request, ServerCallContext context)
    {
        var id = Mapping.ParseId(request.SandboxId, "sandbox_id");
        var principal = CallPrincipal.Get(context);
        sandboxes.Get(principal, id);
        await ReasonedException.NotFoundAs(ErrorReason.ProcessNotFound,
            () => sandboxes.SignalExecAsync(principal, id, request.Pid, request.Signal, context.CancellationToken));
        return new SignalProcessResponse();
    }
}
