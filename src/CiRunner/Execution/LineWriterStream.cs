using System.Text;

namespace Sandbox.CiRunner.Execution;

/// <summary>A write-only stream that hands each complete line (UTF-8, without its '\n' or '\r\n') to a callback, and
/// what is left at <see cref="Complete"/>. A line longer than <see cref="MaxLineBytes"/> is cut there, so a process
/// that never prints a newline costs bounded memory.</summary>
public sealed class LineWriterStream(Action<string> onLine) : Stream
{
    public const int MaxLineBytes = 64 * 1024;

    private readonly MemoryStream _pending = new();
    private readonly Lock _lock = new();

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        lock (_lock)
        {
            while (buffer.Length > 0)
            {
                var nl = buffer.IndexOf((byte)'\n');
                var take = nl < 0 ? buffer.Length : nl;
                var room = MaxLineBytes - (int)_pending.Length;
                if (take > room)
                {
                    _pending.Write(buffer[..room]);
                    EmitPending();
                    buffer = buffer[room..];
                    continue;
                }
                _pending.Write(buffer[..take]);
                if (nl < 0) return;
                EmitPending();
                buffer = buffer[(nl + 1)..];
            }
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    /// <summary>Emits the last line when it had no newline.</summary>
    public void Complete()
    {
        lock (_lock)
        {
            if (_pending.Length > 0) EmitPending();
        }
    }

    private void EmitPending()
    {
        var bytes = _pending.GetBuffer().AsSpan(0, (int)_pending.Length);
        if (bytes.Length > 0 && bytes[^1] == '\r') bytes = bytes[..^1];
        onLine(Encoding.UTF8.GetString(bytes));
        _pending.SetLength(0);
    }

    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
