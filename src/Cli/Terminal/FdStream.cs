using System.Runtime.InteropServices;

namespace Sandbox.Cli.Terminal;

/// <summary>A stream over an inherited file descriptor with plain read(2)/write(2): no file position of its own (a
/// FileStream would pwrite at its own offset, and stdout and stderr redirected to one file would overwrite each other),
/// no terminal initialisation (System.Console's streams write keypad-mode escapes to a tty). EPIPE surfaces as an
/// IOException, as .NET ignores SIGPIPE.</summary>
internal sealed partial class FdStream(int fd, bool readable) : Stream
{
    private const int EINTR = 4;

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static unsafe partial nint Write(int fd, byte* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static unsafe partial nint Read(int fd, byte* buffer, nint count);

    public override bool CanRead => readable;
    public override bool CanSeek => false;
    public override bool CanWrite => !readable;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override unsafe void Write(ReadOnlySpan<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            var done = 0;
            while (done < buffer.Length)
            {
                var n = Write(fd, p + done, buffer.Length - done);
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == EINTR)
                        continue;
                    throw new IOException($"write to fd {fd} failed: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
                }
                done += (int)n;
            }
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override unsafe int Read(Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            while (true)
            {
                var n = Read(fd, p, buffer.Length);
                if (n >= 0)
                    return (int)n;
                var errno = Marshal.GetLastPInvokeError();
                if (errno != EINTR)
                    throw new IOException($"read from fd {fd} failed: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
            }
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    /// <summary>A blocking read on a worker thread (stdin has no async readiness here), cancellable by abandoning it.</summary>
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        await Task.Run(() => Read(buffer.Span), CancellationToken.None).WaitAsync(cancellationToken).ConfigureAwait(false);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
