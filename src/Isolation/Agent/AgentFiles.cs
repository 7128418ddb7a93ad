using Google.Protobuf;
using Sandbox.AgentProtocol.V1;

namespace Sandbox.Isolation.Agent;

/// <summary>Whole-file reads and writes through the agent, chunked to its 1 MiB limit, for both tiers. Paths are
/// checked here (absolute, no '..'); the agent resolves them inside the sandbox root.</summary>
internal static class AgentFiles
{
    private const int ChunkBytes = 1 << 20;

    public static async Task<byte[]> ReadAsync(AgentClient agent, string path, long maxBytes, CancellationToken cancellationToken)
    {
        CheckPath(path);
        using var buffer = new MemoryStream();
        while (true)
        {
            var chunk = await AgentCalls.RunAsync(() => agent.ReadFileAsync(
                new ReadFileRequest { Path = path, Offset = buffer.Length, MaxBytes = ChunkBytes }, cancellationToken)).ConfigureAwait(false);
            if (buffer.Length + chunk.Data.Length > maxBytes)
                throw new SandboxException(SandboxErrorCode.ResourceExhausted, $"file '{path}' is larger than the {maxBytes}-byte read limit");
            chunk.Data.WriteTo(buffer);
            if (chunk.Eof || chunk.Data.IsEmpty)
                return buffer.ToArray();
        }
    }

    public static async Task WriteAsync(AgentClient agent, string path, ReadOnlyMemory<byte> content, int mode, CancellationToken cancellationToken)
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
            await AgentCalls.RunAsync(() => agent.WriteFileAsync(request, cancellationToken)).ConfigureAwait(false);
            offset += length;
        }
        while (offset < content.Length);
    }

    private static void CheckPath(string path)
    {
        var errors = new List<string>();
        SpecValidator.CheckSandboxPath(path, "path", errors);
        if (errors.Count > 0)
            throw new SpecValidationException(errors);
    }
}
