using Sandbox.AgentProtocol.V1;

namespace Sandbox.Isolation.Agent;

/// <summary>A sandbox file as a read-only stream of exactly <see cref="Length"/> bytes (the size it was listed with),
/// read through the agent chunk by chunk: tar entries need their size before their data. A file that shrank since is
/// padded with zeros and one that grew is cut, so the archive stays well formed (its content is as untrusted as any
/// other file read from the sandbox).</summary>
internal sealed class AgentFileReadStream(AgentChannel agent, string path, long length) : Stream
{
    private long _position;
    private bool _ended;

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;
    public override long Length => length;

    public override long Position
    {
        get => _position;
        set => _position = Math.Clamp(value, 0, length);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var want = (int)Math.Min(Math.Min(buffer.Length, length - _position), AgentClient.MaxChunkBytes);
        if (want <= 0)
            return 0;
        if (!_ended)
        {
            var request = new ReadFileRequest { Path = path, Offset = _position, MaxBytes = (uint)want };
            var chunk = await agent.CallAsync("ReadFile", (c, t) => c.ReadFileAsync(request, t), cancellationToken).ConfigureAwait(false);
            if (!chunk.Data.IsEmpty)
            {
                chunk.Data.Memory.CopyTo(buffer);
                _position += chunk.Data.Length;
                return chunk.Data.Length;
            }
            _ended = true;
        }
        buffer.Span[..want].Clear();
        _position += want;
        return want;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
    {
        SeekOrigin.Begin => offset,
        SeekOrigin.Current => _position + offset,
        _ => length + offset,
    };

    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
