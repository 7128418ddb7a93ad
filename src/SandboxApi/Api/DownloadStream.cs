using Google.Protobuf;
using Grpc.Core;
using Sandbox.Api.V1;

namespace Sandbox.SandboxApi.Api;

/// <summary>A ReadFile call's response stream as a write-only stream: each write the driver makes (one agent chunk, at
/// most 1 MiB) goes out as one or more <see cref="ReadFileChunk"/>s of at most <paramref name="chunkBytes"/>, and the
/// write completes only when gRPC has taken it (a slow reader slows the copy from the agent, nothing piles up).</summary>
internal sealed class DownloadStream(IServerStreamWriter<ReadFileChunk> responses, int chunkBytes) : Stream
{
    /// <summary>Chunks sent so far.</summary>
    public int ChunksSent { get; private set; }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        for (var offset = 0; offset < buffer.Length; offset += chunkBytes)
        {
            var chunk = ByteString.CopyFrom(buffer.Span.Slice(offset, Math.Min(chunkBytes, buffer.Length - offset)));
            await responses.WriteAsync(new ReadFileChunk { Data = chunk }, cancellationToken).ConfigureAwait(false);
            ChunksSent++;
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("DownloadStream is written asynchronously only");

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public override void Flush() { }
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
