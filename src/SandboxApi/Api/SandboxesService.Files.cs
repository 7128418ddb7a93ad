using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Sandbox.Api.V1;
using Sandbox.Core;
using Sandbox.Isolation;
using Sandbox.SandboxApi.Auth;
using Sandbox.SandboxApi.StreamLimits;

namespace Sandbox.SandboxApi.Api;

/// <summary>The file calls beyond whole-file read and write: listing pages, stat, mkdir, remove, rename, tar streams.</summary>
public sealed partial class SandboxesService
{
    private const int MaxListEntries = 10000;
    private const int MaxFilesPageSize = 1000;
    /// <summary>Largest tar stream WriteArchive takes, bytes (streamed to the agent as it arrives).</summary>
    public const long MaxArchiveBytes = 256L << 20;

    /// <summary>Runs a file call for an existing sandbox of the caller: NotFound from the call itself is the file
    /// (FILE_NOT_FOUND), a missing sandbox answers SANDBOX_NOT_FOUND before it runs.</summary>
    private Task<T> FileCallAsync<T>(ServerCallContext context, SandboxId id, Func<Principal, Task<T>> call)
    {
        var principal = CallPrincipal.Get(context);
        sandboxes.Get(principal, id);
        return ReasonedException.NotFoundAs(ErrorReason.FileNotFound, () => call(principal));
    }

    private Task FileCallAsync(ServerCallContext context, SandboxId id, Func<Principal, Task> call) =>
        FileCallAsync(context, id, async p => { await call(p).ConfigureAwait(false); return true; });

    public override async Task<ListFilesResponse> ListFiles(ListFilesRequest request, ServerCallContext context)
    {
        var id = Mapping.ParseId(request.SandboxId, "sandbox_id");
        if (request.PageSize is < 0 or > MaxFilesPageSize)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"page_size {request.PageSize} is out of range [0, {MaxFilesPageSize}]");
        var pageSize = request.PageSize == 0 ? MaxFilesPageSize : request.PageSize;
        var after = FilePageToken.Parse(request.PageToken);
        var listing = await FileCallAsync(context, id, p => sandboxes.ListFilesAsync(p, id, request.Path, MaxListEntries, context.CancellationToken));
        var rest = listing.Entries.Where(e => after is null || string.CompareOrdinal(e.Name, after) > 0).Take(pageSize + 1).ToList();
        var response = new ListFilesResponse { Truncated = listing.Truncated };
        response.Entries.AddRange(rest.Take(pageSize).Select(Mapping.ToProto));
        if (rest.Count > pageSize)
            response.NextPageToken = FilePageToken.Make(rest[pageSize - 1].Name);
        return response;
    }

    public override async Task<FileEntry> StatFile(StatFileRequest request, ServerCallContext context)
    {
        var id = Mapping.ParseId(request.SandboxId, "sandbox_id");
        return Mapping.ToProto(await FileCallAsync(context, id, p => sandboxes.StatAsync(p, id, request.Path, context.CancellationToken)));
    }

    public override async Task<FileEntry> MakeDirectory(MakeDirectoryRequest request, ServerCallContext context)
    {
        var id = Mapping.ParseId(request.SandboxId, "sandbox_id");
        return Mapping.ToProto(await FileCallAsync(context, id, p => sandboxes.MakeDirectoryAsync(p, id, request.Path, context.CancellationToken)));
    }

    public override async Task<RemoveFileResponse> RemoveFile(RemoveFileRequest request, ServerCallContext context)
    {
        var id = Mapping.ParseId(request.SandboxId, "sandbox_id");
        await FileCallAsync(context, id, p => sandboxes.RemoveAsync(p, id, request.Path, request.Recursive, request.AllowMissing, context.CancellationToken));
        return new RemoveFileResponse();
    }

    public override async Task<FileEntry> RenameFile(RenameFileRequest request, ServerCallContext context)
    {
        var id = Mapping.ParseId(request.SandboxId, "sandbox_id");
        return Mapping.ToProto(await FileCallAsync(context, id, p => sandboxes.RenameAsync(p, id, request.Path, request.NewPath, context.CancellationToken)));
    }

    public override async Task<WriteArchiveResponse> WriteArchive(IAsyncStreamReader<WriteArchiveRequest> requestStream, ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        if (!await requestStream.MoveNext(cancellationToken) || requestStream.Current.MsgCase != WriteArchiveRequest.MsgOneofCase.Header)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, "the first WriteArchive message must be 'header'");
        var header = requestStream.Current.Header;
        var id = Mapping.ParseId(header.SandboxId, "header.sandbox_id");
        using var lease = limiter.Acquire(CallPrincipal.Get(context).Tenant, StreamKind.File);
        // Streamed through to the agent as it arrives (never whole in memory); FileCallAsync looks the sandbox up
        // before any of it is read.
        var tar = new UploadStream<WriteArchiveRequest>(requestStream,
            m => m.MsgCase == WriteArchiveRequest.MsgOneofCase.Data ? m.Data : null, MaxArchiveBytes, "WriteArchive");
        await FileCallAsync(context, id, p => sandboxes.ImportDirectoryAsync(p, id, header.Path, tar, cancellationToken));
        // The tar reader stops at the archive's end marker: what follows it is read (and counted) too.
        await tar.CopyToAsync(Stream.Null, cancellationToken);
        var size = tar.Received;
        return new WriteArchiveResponse { BytesRead = size };
    }

    public override async Task ReadArchive(ReadArchiveRequest request, IServerStreamWriter<ReadFileChunk> responseStream, ServerCallContext context)
    {
        var id = Mapping.ParseId(request.SandboxId, "sandbox_id");
        using var lease = limiter.Acquire(CallPrincipal.Get(context).Tenant, StreamKind.File);
        await using var chunks = new ChunkWriterStream(responseStream, context.CancellationToken);
        await FileCallAsync(context, id, p => sandboxes.ExportDirectoryAsync(p, id, request.Path, chunks, context.CancellationToken));
        await chunks.FlushAsync(context.CancellationToken);
    }

    /// <summary>Opaque ListFiles page tokens: the last name returned.</summary>
    private static class FilePageToken
    {
        public static string Make(string lastName) => Convert.ToBase64String(Encoding.UTF8.GetBytes("f/" + lastName));

        public static string? Parse(string token)
        {
            if (token.Length == 0)
                return null;
            try
            {
                var key = Encoding.UTF8.GetString(Convert.FromBase64String(token));
                if (key.StartsWith("f/", StringComparison.Ordinal) && key.Length > 2)
                    return key[2..];
            }
            catch (FormatException)
            {
            }
            throw new SandboxException(SandboxErrorCode.InvalidArgument, "page_token is not a ListFiles token this server issued");
        }
    }
}
