using Proto = Sandbox.Api.V1;
using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Sandbox.Api.V1;
using SandboxState = Sandbox.Api.V1.SandboxState;
using Sandbox.Isolation;
using Sandbox.SandboxApi.Auth;
using Sandbox.SandboxApi.StreamLimits;
using Sandbox.SandboxApi.Metrics;
using Sandbox.Core;

namespace Sandbox.SandboxApi.Api;

/// <summary>sandbox.v1.Sandboxes: parse → <see cref="SandboxService"/> → map. No error handling here
/// (<see cref="ErrorInterceptor"/>) and no authentication (<see cref="AuthInterceptor"/>).</summary>
public sealed partial class SandboxesService(SandboxService sandboxes, SandboxRegistry registry, SandboxEvents events, SandboxdMetrics metrics,
    CreateRequestLedger ledger, TenantStreamLimiter limiter) : Sandboxes.SandboxesBase
{
    /// <summary>Largest file WriteFile accepts and ReadFile returns, bytes.</summary>
    public const long MaxFileBytes = 64L << 20;
    /// <summary>Largest ReadFile chunk, bytes (WriteFile chunks are bounded by the largest request message).</summary>
    public const int FileChunkBytes = ChunkWriterStream.ChunkBytes;
    private const int MaxPageSize = 1000;

    public override async Task<Proto.Sandbox> CreateSandbox(CreateSandboxRequest request, ServerCallContext context)
    {
        var principal = CallPrincipal.Get(context);
        var domain = Mapping.ToDomain(request);
        // With a request id the create is not tied to this call: a client that gave up waiting retries and gets it.
        // Nothing a create looks up but the image can be missing (the sandbox does not exist yet).
        var entry = await ReasonedException.NotFoundAs(ErrorReason.ImageNotFound, () => request.RequestId.Length == 0
            ? sandboxes.CreateAsync(principal, domain, context.CancellationToken)
            : ledger.GetOrStart(principal.Tenant, request.RequestId, () => sandboxes.CreateAsync(principal, domain, CancellationToken.None))
                .WaitAsync(context.CancellationToken));
        return Mapping.ToProto(entry);
    }

    public override Task<Proto.Sandbox> GetSandbox(GetSandboxRequest request, ServerCallContext context) =>
        Task.FromResult(Mapping.ToProto(sandboxes.Get(CallPrincipal.Get(context), Mapping.ParseId(request.Id))));

    public override Task<ListSandboxesResponse> ListSandboxes(ListSandboxesRequest request, ServerCallContext context)
    {
        if (request.PageSize is < 0 or > MaxPageSize)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"page_size {request.PageSize} is out of range [0, {MaxPageSize}]");
        var pageSize = request.PageSize == 0 ? 100 : request.PageSize;
        var after = PageToken.Parse(request.PageToken);
        var matching = sandboxes.List(CallPrincipal.Get(context))
            .Select(Mapping.ToProto)
            .Where(s => request.State == SandboxState.Unspecified || s.State == request.State)
            .Where(s => request.LabelSelector.All(kv => s.Labels.TryGetValue(kv.Key, out var v) && v == kv.Value))
            .Where(s => after is null || string.CompareOrdinal(PageToken.Key(s), after) > 0)
            .Take(pageSize + 1)
            .ToList();
        var response = new ListSandboxesResponse();
        response.Sandboxes.AddRange(matching.Take(pageSize));
        if (matching.Count > pageSize)
            response.NextPageToken = PageToken.Make(matching[pageSize - 1]);
        return Task.FromResult(response);
    }

    public override async Task<DeleteSandboxResponse> DeleteSandbox(DeleteSandboxRequest request, ServerCallContext context)
    {
        try
        {
            await sandboxes.DeleteAsync(CallPrincipal.Get(context), Mapping.ParseId(request.Id));
        }
        catch (SandboxException e) when (e.Code == SandboxErrorCode.NotFound && request.AllowMissing)
        {
            // AIP-135 allow_missing: nothing to delete is success.
        }
        return new DeleteSandboxResponse();
    }

    public override async Task<Proto.Sandbox> PauseSandbox(PauseSandboxRequest request, ServerCallContext context)
    {
        var principal = CallPrincipal.Get(context);
        var id = Mapping.ParseId(request.Id);
        await sandboxes.PauseAsync(principal, id, context.CancellationToken);
        return Mapping.ToProto(sandboxes.Get(principal, id));
    }

    public override async Task<Proto.Sandbox> ResumeSandbox(ResumeSandboxRequest request, ServerCallContext context)
    {
        var principal = CallPrincipal.Get(context);
        var id = Mapping.ParseId(request.Id);
        await sandboxes.ResumeAsync(principal, id, context.CancellationToken);
        return Mapping.ToProto(sandboxes.Get(principal, id));
    }

    /// <summary>A subscriber of Core's event stream, filtered to the caller's tenant. The response headers go out once
    /// subscribed: a client that waits for them misses nothing that happens after.</summary>
    public override async Task WatchEvents(WatchEventsRequest request, IServerStreamWriter<LifecycleEvent> responseStream, ServerCallContext context)
    {
        var tenant = CallPrincipal.Get(context).Tenant;
        using var lease = limiter.Acquire(tenant, StreamKind.Events);
        SandboxId? only = request.SandboxId.Length > 0 ? Mapping.ParseId(request.SandboxId, "sandbox_id") : null;
        using var subscription = events.Subscribe();
        await context.WriteResponseHeadersAsync([]);
        await foreach (var e in subscription.Reader.ReadAllAsync(context.CancellationToken))
        {
            if (e.Tenant == tenant && (only is null || e.Id == only))
                await responseStream.WriteAsync(Mapping.ToProto(e), context.CancellationToken);
        }
    }

    public override async Task Exec(IAsyncStreamReader<ExecRequest> requestStream, IServerStreamWriter<ExecEvent> responseStream, ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        if (!await requestStream.MoveNext(cancellationToken) || requestStream.Current.MsgCase != ExecRequest.MsgOneofCase.Start)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, "the first Exec message must be 'start'");
        var start = requestStream.Current.Start;
        var id = Mapping.ParseId(start.SandboxId, "start.sandbox_id");
        using var lease = limiter.Acquire(CallPrincipal.Get(context).Tenant, StreamKind.Process);
        var spec = Mapping.ToDomain(start.Process);
        var stdin = start.Process.Stdin ? new StdinPipe() : null;
        var principal = CallPrincipal.Get(context);
        var entry = sandboxes.Get(principal, id);
        await using var events = new EventPump(responseStream, cancellationToken);
        var io = new ProcessIO { Stdin = stdin?.Reader, Stdout = events.Stdout, Stderr = events.Stderr };
        var process = await ProgramErrors.ClassifyAsync(() => sandboxes.ExecAsync(principal, id, spec, io, cancellationToken));
        await events.SendStartedAsync(new Started
        {
            SandboxId = id.Value, Pid = process.Pid, Tier = Mapping.ToProto(entry.Tier), PolicyDecisionId = entry.Decision.DecisionId,
            Limits = entry.Info is { } info ? Mapping.ToProto(info.Limits) : null,
        });
        var status = await WithInputAsync(process.Completion, stdin, requestStream, async (message, ct) =>
        {
            switch (message.MsgCase)
            {
                case ExecRequest.MsgOneofCase.Stdin when stdin is not null: await stdin.WriteAsync(message.Stdin.Memory, ct); break;
                case ExecRequest.MsgOneofCase.CloseStdin: stdin?.Close(); break;
                case ExecRequest.MsgOneofCase.Signal: await process.SignalAsync(message.Signal.Number, ct); break;
                case ExecRequest.MsgOneofCase.Resize: await process.ResizeAsync(Mapping.ToDomain(message.Resize, "resize"), ct); break;
            }
        }, cancellationToken);
        await events.SendAsync(new ExecEvent { Exit = Mapping.ToProto(status) });
    }

    public override async Task Run(IAsyncStreamReader<RunRequest> requestStream, IServerStreamWriter<ExecEvent> responseStream, ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        if (!await requestStream.MoveNext(cancellationToken) || requestStream.Current.MsgCase != RunRequest.MsgOneofCase.Start)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, "the first Run message must be 'start'");
        var start = requestStream.Current.Start;
        using var lease = limiter.Acquire(CallPrincipal.Get(context).Tenant, StreamKind.Process);
        var request = Mapping.ToDomain(start.Sandbox ?? new CreateSandboxRequest(), ephemeral: true);
        var spec = Mapping.ToDomain(start.Process);
        if (spec.Tty is not null)
            throw new SandboxException(SandboxErrorCode.Unimplemented, "process.tty: the one-shot Run has no terminal; create a sandbox and Exec with a tty");
        if (spec.User is not null)
            throw new SandboxException(SandboxErrorCode.Unimplemented, $"process.user '{spec.User}': the one-shot Run runs as the sandbox's user; create a sandbox and Exec with a user");
        var stdin = start.Process.Stdin ? new StdinPipe() : null;
        var signals = new ProcessSignals();
        await using var events = new EventPump(responseStream, cancellationToken);
        var io = new ProcessIO { Stdin = stdin?.Reader, Stdout = events.Stdout, Stderr = events.Stderr, Signals = signals };
        var run = ProgramErrors.ClassifyAsync(() => sandboxes.RunAsync(CallPrincipal.Get(context), request, spec, io,
            s => events.SendStartedAsync(new Started { SandboxId = s.Id.Value, Tier = Mapping.ToProto(s.Tier), PolicyDecisionId = s.DecisionId, Limits = Mapping.ToProto(s.Limits) }).AsTask(),
            cancellationToken));
        var status = await WithInputAsync(run, stdin, requestStream, async (message, ct) =>
        {
            switch (message.MsgCase)
            {
                case RunRequest.MsgOneofCase.Stdin when stdin is not null: await stdin.WriteAsync(message.Stdin.Memory, ct); break;
                case RunRequest.MsgOneofCase.CloseStdin: stdin?.Close(); break;
                case RunRequest.MsgOneofCase.Signal: signals.Send(message.Signal.Number); break;
            }
        }, cancellationToken);
        await events.SendAsync(new ExecEvent { Exit = Mapping.ToProto(status) });
    }

    /// <summary>Reads the rest of the request stream (stdin, signals) while <paramref name="completion"/> runs; stops
    /// reading when it ends. The client half-closing its stream closes stdin.</summary>
    private static async Task<ExitStatus> WithInputAsync<T>(Task<ExitStatus> completion, StdinPipe? stdin, IAsyncStreamReader<T> requests,
        Func<T, CancellationToken, Task> handle, CancellationToken cancellationToken)
    {
        if (completion.IsCompleted)
        {
            // Ended already (a short exec whose end came with its start): no input is read, as none would be after the end.
            stdin?.Close();
            return await completion;
        }
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var input = Task.Run(async () =>
        {
            try
            {
                while (await requests.MoveNext(stop.Token))
                    await handle(requests.Current, stop.Token);
            }
            finally
            {
                stdin?.Close();
            }
        }, CancellationToken.None);
        try
        {
            return await completion;
        }
        finally
        {
            await stop.CancelAsync();
            try
            {
                await input;
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException or SandboxException)
            {
                // Input after the process ended, or from a client that went away, has nowhere to go.
            }
        }
    }

    /// <summary>Authorizes the caller, checks the tenant's stream limits and looks the sandbox up before any data is
    /// read; then the data streams through to the agent one chunk at a time (UploadStream), never whole in memory. A
    /// failed upload can leave a partial file behind.</summary>
    public override async Task<WriteFileResponse> WriteFile(IAsyncStreamReader<WriteFileRequest> requestStream, ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        if (!await requestStream.MoveNext(cancellationToken) || requestStream.Current.MsgCase != WriteFileRequest.MsgOneofCase.Header)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, "the first WriteFile message must be 'header'");
        var header = requestStream.Current.Header;
        var principal = CallPrincipal.Get(context);
        var id = Mapping.ParseId(header.SandboxId, "header.sandbox_id");
        using var lease = limiter.Acquire(principal.Tenant, StreamKind.File);
        var upload = new UploadStream<WriteFileRequest>(requestStream,
            m => m.MsgCase == WriteFileRequest.MsgOneofCase.Data ? m.Data : null, MaxFileBytes, "WriteFile");
        // FileCallAsync looks the sandbox up before the call reads any data from the upload.
        var written = await FileCallAsync(context, id, p => sandboxes.WriteFileFromAsync(p, id, header.Path, upload,
            header.Mode == 0 ? 0x1a4 : (int)(header.Mode & 0x1ff), cancellationToken));
        return new WriteFileResponse { BytesWritten = written };
    }

    /// <summary>Streams the file from the agent to the client one chunk at a time (ChunkWriterStream). A file past
    /// <see cref="MaxFileBytes"/> fails with ResourceExhausted after the chunks before the limit were sent.</summary>
    public override async Task ReadFile(ReadFileRequest request, IServerStreamWriter<ReadFileChunk> responseStream, ServerCallContext context)
    {
        var principal = CallPrincipal.Get(context);
        var id = Mapping.ParseId(request.SandboxId, "sandbox_id");
        using var lease = limiter.Acquire(principal.Tenant, StreamKind.File);
        await using var download = new ChunkWriterStream(responseStream, context.CancellationToken);
        await FileCallAsync(context, id, p => sandboxes.ReadFileToAsync(p, id, request.Path, download, MaxFileBytes, context.CancellationToken));
        await download.FlushAsync(context.CancellationToken);
        if (download.ChunksSent == 0)
            await responseStream.WriteAsync(new ReadFileChunk { Data = ByteString.Empty }, context.CancellationToken);
    }

    public override async Task<PolicyExplanation> ExplainPolicy(CreateSandboxRequest request, ServerCallContext context)
    {
        var decision = await sandboxes.ExplainAsync(CallPrincipal.Get(context), Mapping.ToDomain(request), context.CancellationToken);
        return Mapping.ToProto(decision);
    }

    public override Task<GetMetricsResponse> GetMetrics(GetMetricsRequest request, ServerCallContext context) =>
        Task.FromResult(new GetMetricsResponse { Text = metrics.Render(registry) });

    /// <summary>Opaque page tokens: the sort key (creation time, id) of the last sandbox returned.</summary>
    private static class PageToken
    {
        public static string Key(Proto.Sandbox s) => $"{s.CreateTime.ToDateTimeOffset().UtcTicks:D20}/{s.Id}";

        public static string Make(Proto.Sandbox s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(Key(s)));

        public static string? Parse(string token)
        {
            if (token.Length == 0)
                return null;
            try
            {
                var key = Encoding.UTF8.GetString(Convert.FromBase64String(token));
                if (key.Length > 21 && key[20] == '/')
                    return key;
            }
            catch (FormatException)
            {
            }
            throw new SandboxException(SandboxErrorCode.InvalidArgument, "page_token is not a token this server issued");
        }
    }
}
