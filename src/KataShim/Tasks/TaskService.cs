using System.Collections.Concurrent;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;
using Sandbox.Core;
using Sandbox.Isolation;
using Sandbox.KataShim.Events;
using Sandbox.KataShim.Mapping;
using Sandbox.KataShim.Protocol.Task;
using Sandbox.Ttrpc;

namespace Sandbox.KataShim.Tasks;

/// <summary>containerd's task service (`containerd.task.v2.Task`, and the identical v3 for containerd 2.x) as a face
/// over Core: each RPC parses, calls Core or the task's own process table, maps the result, and publishes the event
/// containerd's README requires, in its order. No orchestration of its own: policy, specs, lifecycle and teardown
/// are Core's. The RPCs live in the other parts of this class: Create/Start/Delete (Lifecycle), the process verbs
/// (Processes) and the sandbox-wide ones (Control). <paramref name="containerdAddress"/>: containerd's gRPC socket (the
/// shim's -address), asked for a CRI pod's labels.</summary>
internal sealed partial class TaskService(SandboxCore core, Principal principal, EventForwarder events, string ns, ILogger logger,
    Action shutdown, string containerdAddress)
{
    public const string ServiceV2 = "containerd.task.v2.Task";
    public const string ServiceV3 = "containerd.task.v3.Task";
    public const string Version = "sandbox-shim 1";

    private readonly ConcurrentDictionary<string, ShimContainer> _containers = new(StringComparer.Ordinal);

    public bool IsEmpty => _containers.IsEmpty;

    public void Register(TtrpcServer server)
    {
        foreach (var service in new[] { ServiceV2, ServiceV3 })
        {
            Add(server, service, "Create", CreateTaskRequest.Parser, CreateAsync);
            Add(server, service, "Start", StartRequest.Parser, StartAsync);
            Add(server, service, "Delete", DeleteRequest.Parser, DeleteAsync);
            Add(server, service, "State", StateRequest.Parser, StateAsync);
            Add(server, service, "Wait", WaitRequest.Parser, WaitAsync);
            Add(server, service, "Kill", KillRequest.Parser, KillAsync);
            Add(server, service, "Exec", ExecProcessRequest.Parser, ExecAsync);
            Add(server, service, "Pids", PidsRequest.Parser, PidsAsync);
            Add(server, service, "CloseIO", CloseIORequest.Parser, CloseIOAsync);
            Add(server, service, "ResizePty", ResizePtyRequest.Parser, ResizePtyAsync);
            Add(server, service, "Pause", PauseRequest.Parser, PauseAsync);
            Add(server, service, "Resume", ResumeRequest.Parser, ResumeAsync);
            Add(server, service, "Stats", StatsRequest.Parser, StatsAsync);
            Add(server, service, "Update", UpdateTaskRequest.Parser, UpdateAsync);
            Add(server, service, "Connect", ConnectRequest.Parser, ConnectAsync);
            Add(server, service, "Shutdown", ShutdownRequest.Parser, ShutdownAsync);
            Add(server, service, "Checkpoint", CheckpointTaskRequest.Parser,
                (_, _) => Task.FromException<Empty>(new TtrpcException(StatusCode.Unimplemented, "checkpoint is not supported by the sandbox runtime")));
        }
    }

    /// <summary>Every handler goes through here: Core's and the engine's errors become ttrpc statuses once.</summary>
    private static void Add<TRequest, TResponse>(TtrpcServer server, string service, string method, MessageParser<TRequest> parser,
        Func<TRequest, TtrpcCallContext, Task<TResponse>> handler)
        where TRequest : IMessage<TRequest>
        where TResponse : IMessage<TResponse> =>
        server.Register<TRequest, TResponse>(service, method, parser, async (request, ctx) =>
        {
            try
            {
                return await handler(request, ctx).ConfigureAwait(false);
            }
            catch (SandboxException e)
            {
                throw ErrorMapping.ToTtrpc(e);
            }
        });

    private ShimContainer Get(string id) =>
        _containers.TryGetValue(id, out var c) ? c : throw ErrorMapping.NotFound($"container {id} not created");

    private Task<ConnectResponse> ConnectAsync(ConnectRequest request, TtrpcCallContext ctx) =>
        Task.FromResult(new ConnectResponse
        {
            ShimPid = (uint)Environment.ProcessId,
            // The liveness probe after a containerd restart: an unknown id is not an error.
            TaskPid = _containers.TryGetValue(request.Id, out var c) ? (uint)c.Init.Pid : 0,
            Version = Version,
        });

    private Task<Empty> ShutdownAsync(ShutdownRequest request, TtrpcCallContext ctx)
    {
        // One daemon serves a whole pod: it exits only when its last container is gone.
        if (_containers.IsEmpty)
            ctx.OnResponseSent(shutdown);
        return Task.FromResult(new Empty());
    }

    private void Publish(string topic, IMessage message) => events.Publish(topic, message);
}
