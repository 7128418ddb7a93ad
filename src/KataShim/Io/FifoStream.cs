using Microsoft.Win32.SafeHandles;

namespace Sandbox.KataShim.Io;

/// <summary>One end of a FIFO containerd's client created (ctr, CRI). Opening a FIFO blocks until the other end is
/// opened too, and the client opens its end in the background, so the open runs on the thread pool and every read or
/// write awaits it. Writes go out at once (no buffering): a container's output is live. Disposing a FIFO whose open
/// is still pending opens the other end ourselves for an instant, so no thread stays blocked in open().</summary>
internal sealed class FifoStream : Stream
{
    private readonly string _path;
    private readonly FileAccess _access;
    private readonly Task<FileStream> _open;
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _disposed;

    private FifoStream(string path, FileAccess access)
    {
        _path = path;
        _access = access;
        _open = Task.Run(() => new FileStream(new SafeFileHandle(OpenBlocking(path, access), ownsHandle: true), access, bufferSize: 0));
    }

    public static FifoStream OpenForWriting(string path) => new(path, FileAccess.Write);

    public static FifoStream OpenForReading(string path) => new(path, FileAccess.Read);

    /// <summary>Makes reads end (EOF) now, as CloseIO asks: the process's stdin closes even while the client keeps its end open.</summary>
    public void CloseForReading() => _closed.TrySetResult();

    public override bool CanRead => _access == FileAccess.Read;
    public override bool CanWrite => _access == FileAccess.Write;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var opened = await Task.WhenAny(_open, _closed.Task).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (opened != _open)
            return 0;
        var read = _open.Result.ReadAsync(buffer, cancellationToken).AsTask();
        var first = await Task.WhenAny(read, _closed.Task).WaitAsync(cancellationToken).ConfigureAwait(false);
        return first == read ? await read.ConfigureAwait(false) : 0;
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var stream = await _open.WaitAsync(cancellationToken).ConfigureAwait(false);
        await stream.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
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

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _closed.TrySetResult();
        if (!_open.IsCompleted)
            UnblockOpen();
        try
        {
            await (await _open.ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false);
        }
        catch (IOException)
        {
            // Never opened (the client went away first): nothing to close.
        }
        catch (UnauthorizedAccessException)
        {
        }
        await base.DisposeAsync().ConfigureAwait(false);
    }

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

    private static IntPtr OpenBlocking(string path, FileAccess access)
    {
        var flags = (access == FileAccess.Read ? Interop.Libc.O_RDONLY : Interop.Libc.O_WRONLY) | Interop.Libc.O_CLOEXEC;
        var fd = Interop.Libc.Open(path, flags, 0);
        if (fd < 0)
            throw new IOException($"open {path}: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        return fd;
    }
}
