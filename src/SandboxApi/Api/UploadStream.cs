using Google.Protobuf;
using Grpc.Core;
using Sandbox.Api.V1;
using Sandbox.Isolation;

namespace Sandbox.SandboxApi.Api;

/// <summary>The data messages of a WriteFile call after its header, as a read-only stream the driver copies to the
/// agent chunk by chunk: one request message is held at a time, and the next is read from the call only when the
/// driver asks for more (HTTP/2 flow control then holds the client back). More than <paramref name="maxBytes"/> in all,
/// or a message other than 'data', fails the read (and with it the call).</summary>
internal sealed class UploadStream(IAsyncStreamReader<WriteFileRequest> requests, long maxBytes) : Stream
{
    private ByteString _current = ByteString.Empty;
    private int _offset;
    private bool _ended;

    /// <summary>Bytes received so far.</summary>
    public long Received { get; private set; }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (_offset == _current.Length)
        {
            if (_ended || !await requests.MoveNext(cancellationToken).ConfigureAwait(false))
            {
                _ended = true;
                return 0;
            }
            var message = requests.Current;
            if (message.MsgCase != WriteFileRequest.MsgOneofCase.Data)
                throw new SandboxException(SandboxErrorCode.InvalidArgument, $"WriteFile: only 'data' messages may follow the header, got '{message.MsgCase}'");
            if (Received + message.Data.Length > maxBytes)
                throw new SandboxException(SandboxErrorCode.ResourceExhausted, $"WriteFile: the file is larger than {maxBytes} bytes");
            _current = message.Data;
            _offset = 0;
            Received += _current.Length;
        }
        var n = Math.Min(buffer.Length, _current.Length - _offset);
        _current.Memory.Slice(_offset, n).CopyTo(buffer);
        _offset += n;
        if (_offset == _current.Length)
        {
            // Let the message go as soon as it is copied: at most one is held.
            _current = ByteString.Empty;
            _offset = 0;
        }
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("UploadStream is read asynchronously only");

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
