using System.Runtime.InteropServices;
using System.Threading.Channels;

namespace Sandbox.KataShim.Io;

/// <summary>One end of a FIFO containerd's client created (ctr, CRI). Opening a FIFO blocks until the other end is
/// opened too (the client opens its ends in the background), and reads and writes on it block: each FIFO gets one
/// dedicated thread that opens it and then pumps data through a small bounded channel, so no thread-pool thread is
/// ever blocked on a client (a shim under load would otherwise starve its own ttrpc dispatch). Writes go out at once:
/// a container's output is live. Disposing a FIFO whose open is still pending opens the other end for an instant, so
/// the thread leaves open().</summary>
internal sealed class FifoStream : Stream
{
    private const int ChunkBytes = 32 * 1024;

    private readonly string _path;
    private readonly bool _reading;
    private readonly Channel<byte[]> _data = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(8) { SingleReader = true, SingleWriter = true });
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _opened = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Thread _thread;
    private byte[]? _pending;
    private int _pendingOffset;
    private int _disposed;

    private FifoStream(string path, bool reading)
    {
        _path = path;
        _reading = reading;
        _thread = new Thread(reading ? ReadLoop : WriteLoop) { IsBackground = true, Name = "fifo " + Path.GetFileName(path) };
        _thread.Start();
    }

    public static FifoStream OpenForWriting(string path) => new(path, reading: false);

    public static FifoStream OpenForReading(string path) => new(path, reading: true);

    /// <summary>Makes reads end (EOF) now, as CloseIO asks: the process's stdin closes even while the client keeps its end open.</summary>
    public void CloseForReading() => _closed.TrySetResult();

    public override bool CanRead => _reading;
    public override bool CanWrite => !_reading;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_pending is null)
        {
            var next = _data.Reader.WaitToReadAsync(cancellationToken).AsTask();
            if (await Task.WhenAny(next, _closed.Task).ConfigureAwait(false) != next || !await next.ConfigureAwait(false)
                || !_data.Reader.TryRead(out _pending))
                return 0;
            _pendingOffset = 0;
        }
        var count = Math.Min(buffer.Length, _pending.Length - _pendingOffset);
        _pending.AsMemory(_pendingOffset, count).CopyTo(buffer);
        _pendingOffset += count;
        if (_pendingOffset == _pending.Length)
            _pending = null;
        return count;
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
            return;
        try
        {
            await _data.Writer.WriteAsync(buffer.ToArray(), cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            // The client went away: the output has nowhere to go and is dropped, as on a closed terminal.
        }
    }

    /// <summary>The thread of a read end: open, then read until EOF (every client writer closed), CloseIO or dispose.
    /// It owns the descriptor and closes it when it ends.</summary>
    private void ReadLoop()
    {
        var fd = Open(Interop.Libc.O_RDONLY);
        try
        {
            var buffer = new byte[ChunkBytes];
            while (fd >= 0 && !_closed.Task.IsCompleted)
            {
                var n = Interop.Libc.Read(fd, buffer, buffer.Length);
                if (n < 0 && Marshal.GetLastPInvokeError() == Eintr)
                    continue;
                if (n <= 0)
                    break;
                // Blocks this thread (not the pool) while the process does not read its stdin.
                if (!_data.Writer.WaitToWriteAsync().AsTask().GetAwaiter().GetResult() || !_data.Writer.TryWrite(buffer[..(int)n]))
                    break;
            }
        }
        finally
        {
            _data.Writer.TryComplete();
            if (fd >= 0)
                Interop.Libc.Close(fd);
            _finished.TrySetResult();
        }
    }

    /// <summary>The thread of a write end: open, then write every queued chunk until the stream is disposed (the
    /// queue completes); closing the descriptor is the client's EOF.</summary>
    private void WriteLoop()
    {
        var fd = Open(Interop.Libc.O_WRONLY);
        try
        {
            var reader = _data.Reader;
            while (fd >= 0 && reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
            {
                while (reader.TryRead(out var chunk))
                {
                    for (var offset = 0; offset < chunk.Length;)
                    {
                        var n = Interop.Libc.Write(fd, chunk.AsSpan(offset), chunk.Length - offset);
                        if (n < 0 && Marshal.GetLastPInvokeError() == Eintr)
                            continue;
                        if (n <= 0)
                            return; // the client went away (EPIPE): later output is dropped
                        offset += (int)n;
                    }
                }
            }
        }
        finally
        {
            _data.Writer.TryComplete();
            if (fd >= 0)
                Interop.Libc.Close(fd);
            _finished.TrySetResult();
        }
    }

    private const int Eintr = 4;

    /// <summary>Blocks until the client opens its end (or dispose unblocks it); -1 when it failed or came too late.</summary>
    private int Open(int mode)
    {
        var fd = Interop.Libc.Open(_path, mode | Interop.Libc.O_CLOEXEC, 0);
        if (fd >= 0 && Volatile.Read(ref _disposed) != 0 && _reading)
        {
            Interop.Libc.Close(fd);
            fd = -1;
        }
        _opened.TrySetResult();
        return fd;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>Writers: the queued output is written first (the client's EOF comes after all of it, bounded by
    /// <see cref="DrainTimeout"/> for a client that stopped reading); then the thread closes the FIFO. Readers: reads
    /// end now; a thread blocked in read() on a client that keeps its end open closes it when that client does.</summary>
    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _closed.TrySetResult();
        // Readers: no more chunks are taken. Writers: what is queued is still written, then the thread closes.
        _data.Writer.TryComplete();
        if (!_opened.Task.IsCompleted)
            UnblockOpen();
        if (!_reading)
            await _finished.Task.WaitAsync(DrainTimeout).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await base.DisposeAsync().ConfigureAwait(false);
    }

    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(5);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            DisposeAsync().AsTask().GetAwaiter().GetResult();
        base.Dispose(disposing);
    }

    /// <summary>An open() blocked on a FIFO returns once the other side is opened: open it (non-blocking, read-write
    /// works for either side) and close it again.</summary>
    private void UnblockOpen()
    {
        var fd = Interop.Libc.Open(_path, Interop.Libc.O_RDWR | Interop.Libc.O_NONBLOCK | Interop.Libc.O_CLOEXEC, 0);
        if (fd >= 0)
            Interop.Libc.Close(fd);
    }
}
