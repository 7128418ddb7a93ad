using Google.Protobuf;
using Sandbox.AgentProtocol.V1;

namespace Sandbox.Isolation.Agent;

/// <summary>Whole-file reads and writes (chunked to the agent's 1 MiB limit) and directory listings through the agent,
/// for both tiers. Paths are checked here (absolute, no '..'); the agent resolves them inside the sandbox root.</summary>
internal static class AgentFiles
{
    private const int ChunkBytes = 1 << 20;

    public static async Task<byte[]> ReadAsync(AgentChannel agent, string path, long maxBytes, CancellationToken cancellationToken)
    {
        CheckPath(path);
        using var buffer = new MemoryStream();
        while (true)
        {
            var request = new ReadFileRequest { Path = path, Offset = buffer.Length, MaxBytes = ChunkBytes };
            var chunk = await agent.CallAsync("ReadFile", (c, t) => c.ReadFileAsync(request, t), cancellationToken).ConfigureAwait(false);
            if (buffer.Length + chunk.Data.Length > maxBytes)
                throw new SandboxException(SandboxErrorCode.ResourceExhausted, $"file '{path}' is larger than the {maxBytes}-byte read limit");
            chunk.Data.WriteTo(buffer);
            if (chunk.Eof || chunk.Data.IsEmpty)
                return buffer.ToArray();
        }
    }

    public static async Task WriteAsync(AgentChannel agent, string path, ReadOnlyMemory<byte> content, int mode, CancellationToken cancellationToken)
    {
        CheckPath(path);
        var offset = 0;
        do
        {
            var length = Math.Min(ChunkBytes, content.Length - offset);
            var request = new WriteFileRequest
            {
                Path = path,
                Offset = offset,
                Data = ByteString.CopyFrom(content.Span.Slice(offset, length)),
                Mode = (uint)mode,
                Truncate = offset == 0,
            };
            await agent.CallAsync("WriteFile", (c, t) => c.WriteFileAsync(request, t), cancellationToken).ConfigureAwait(false);
            offset += length;
        }
        while (offset < content.Length);
    }

    public static async Task<SandboxFileListing> ListAsync(AgentChannel agent, string path, int maxEntries, CancellationToken cancellationToken)
    {
        CheckPath(path);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxEntries, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxEntries, AgentClient.MaxDirEntries);
        var r = await agent.CallAsync("ListDir", (c, t) => c.ListDirAsync(
            new ListDirRequest { Path = path, MaxEntries = (uint)maxEntries }, t), cancellationToken).ConfigureAwait(false);
        var entries = r.Entries
            .Select(e => new SandboxFileEntry(e.Name, ToKind(e.Type), e.Size, (int)e.Mode,
                DateTimeOffset.UnixEpoch.AddTicks(e.MtimeUnixNs / 100), e.HasSymlinkTarget ? e.SymlinkTarget : null))
            .OrderBy(e => e.Name, StringComparer.Ordinal)
            .ToArray();
        return new SandboxFileListing(entries, r.Truncated);
    }

    private static SandboxFileKind ToKind(DirEntryType type) => type switch
    {
        DirEntryType.File => SandboxFileKind.File,
        DirEntryType.Dir => SandboxFileKind.Directory,
        DirEntryType.Symlink => SandboxFileKind.Symlink,
        _ => SandboxFileKind.Other,
    };

    private static void CheckPath(string path)
    {
        var errors = new List<string>();
        SpecValidator.CheckSandboxPath(path, "path", errors);
        if (errors.Count > 0)
            throw new SpecValidationException(errors);
    }
}
