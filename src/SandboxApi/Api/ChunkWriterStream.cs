using Google.Protobuf;
using Grpc.Core;
using Sandbox.Api.V1;

namespace Sandbox.SandboxApi.Api;

/// <summary>A write-only stream that sends what is written as ReadFileChunk messages of at most
/// <see cref="ChunkBytes"/>, so a file or a tar export streams to the client with one chunk in memory; small writes
/// (tar headers) are gathered into one message, and a full chunk's write completes only when gRPC has taken it (a slow
/// reader slows the copy from the agent, nothing piles up). Flush sends the rest.</summary>
internal sealed class ChunkWriterStream(IServerStreamWriter<ReadFileChunk> writer, CancellationToken cancellationToken) : Stream
{
    public const int ChunkBytes = 1 << 20;
    private readonly MemoryStream _buffer = new();

    /// <summary>Messages sent so far.</summary>
    public int ChunksSent { get; private set; }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken token = default)
    {
        while (buffer.Length > 0)
        {
            var n = (int)Math.Min(buffer.Length, ChunkBytes - _buffer.Length);
            _buffer.Write(buffer.Span[..n]);
            buffer = buffer[n..];
            if (_buffer.Length == ChunkBytes)
                await SendAsync().ConfigureAwait(false);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken token) =>
        WriteAsync(buffer.AsMemory(offset, count), token).AsTask();

    public override async Task FlushAsync(CancellationToken token)
    {
        if (_buffer.Length > 0)
            await SendAsync().ConfigureAwait(false);
    }

    public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();

    private async Task SendAsync()
    {
        await writer.WriteAsync(new ReadFileChunk { Data = ByteString.CopyFrom(_buffer.GetBuffer(), 0, (int)_buffer.Length) }, cancellationToken).ConfigureAwait(false);
        _buffer.SetLength(0);
        ChunksSent++;
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
