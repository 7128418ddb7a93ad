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
        using var buffer = new MemoryStream();
        await ReadToAsync(agent, path, buffer, maxBytes, cancellationToken).ConfigureAwait(false);
        return buffer.ToArray();
    }

    /// <summary>Copies a file to <paramref name="destination"/> chunk by chunk (one chunk in host memory at a time);
    /// fails with ResourceExhausted, before writing past it, when the file is larger than <paramref name="maxBytes"/>.
    /// Returns the bytes copied.</summary>
    public static async Task<long> ReadToAsync(AgentChannel agent, string path, Stream destination, long maxBytes, CancellationToken cancellationToken)
    {
        CheckPath(path);
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        long offset = 0;
        while (true)
        {
            var request = new ReadFileRequest { Path = path, Offset = offset, MaxBytes = ChunkBytes };
            var chunk = await agent.CallAsync("ReadFile", (c, t) => c.ReadFileAsync(request, t), cancellationToken).ConfigureAwait(false);
            if (offset + chunk.Data.Length > maxBytes)
                throw new SandboxException(SandboxErrorCode.ResourceExhausted, $"file '{path}' is larger than the {maxBytes}-byte read limit");
            await destination.WriteAsync(chunk.Data.Memory, cancellationToken).ConfigureAwait(false);
            offset += chunk.Data.Length;
            if (chunk.Eof || chunk.Data.IsEmpty)
                return offset;
        }
    }

    /// <summary>Creates or replaces a file from <paramref name="source"/>, read to its end in chunks of at most 1 MiB
    /// (one chunk in host memory at a time). Returns the bytes written.</summary>
    public static async Task<long> WriteFromAsync(AgentChannel agent, string path, Stream source, int mode, CancellationToken cancellationToken)
    {
        CheckPath(path);
        ArgumentNullException.ThrowIfNull(source);
        var buffer = new byte[ChunkBytes];
        long offset = 0;
        while (true)
        {
            var length = await source.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            var request = new WriteFileRequest
            {
                Path = path,
                Offset = offset,
                Data = ByteString.CopyFrom(buffer, 0, length),
                Mode = (uint)mode,
                Truncate = offset == 0 || length < buffer.Length,
            };
            await agent.CallAsync("WriteFile", (c, t) => c.WriteFileAsync(request, t), cancellationToken).ConfigureAwait(false);
            offset += length;
            if (length < buffer.Length)
                return offset;
        }
    }

    /// <summary>Creates one directory (its parent must exist); an existing directory is fine when
    /// <paramref name="existOk"/>.</summary>
    public static Task MakeDirAsync(AgentChannel agent, string path, int mode, bool existOk, CancellationToken cancellationToken)
    {
        CheckPath(path);
        var request = new MakeDirRequest { Path = path, Mode = (uint)mode, ExistOk = existOk };
        return agent.CallAsync("MakeDir", (c, t) => c.MakeDirAsync(request, t), cancellationToken);
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

    internal static void CheckPath(string path)
    {
        var errors = new List<string>();
        SpecValidator.CheckSandboxPath(path, "path", errors);
        if (errors.Count > 0)
            throw new SpecValidationException(errors);
    }
}
