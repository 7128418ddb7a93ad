using System.Runtime.InteropServices;
using Sandbox.Agent.Interop;

namespace Sandbox.Agent;

/// <summary>An fd the IO loop polls. All methods except the public API of implementations run on the loop thread.</summary>
internal interface IIoSource
{
    int Fd { get; }

    /// <summary>Events to poll for now; 0 = skip this round. Returning -1 removes the source (it closed its fd).</summary>
    short WantedEvents();

    void OnReady(short revents, Span<byte> scratch);
}

/// <summary>
/// One thread, one poll(2) loop for every exec's pipes (pipes cannot use .NET's socket engine). Memory is bounded by
/// the per-stream buffers; a full buffer is simply not polled, which back-pressures the writing process.
/// </summary>
internal sealed unsafe class IoLoop : IDisposable
{
    private readonly Lock _lock = new();
    private readonly List<IIoSource> _sources = [];
    private readonly int _wakeFd;
    private readonly Thread _thread;
    private volatile bool _stopping;

    public IoLoop()
    {
        _wakeFd = Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        if (_wakeFd < 0) throw new IOException("eventfd: " + Errno.Name(Marshal.GetLastPInvokeError()));
        _thread = new Thread(Run) { IsBackground = true, Name = "agent-io" };
        _thread.Start();
    }

    public void Add(IIoSource source)
    {
        lock (_lock) _sources.Add(source);
        Wake();
    }

    public void Wake()
    {
        ulong one = 1;
        Libc.write(_wakeFd, (byte*)&one, 8);
    }

    private void Run()
    {
        var scratch = new byte[64 * 1024];
        var active = new List<IIoSource>();
        var wantedEvents = new List<short>();
        var fds = new Libc.PollFd[16];
        while (!_stopping)
        {
            active.Clear();
            wantedEvents.Clear();
            lock (_lock)
            {
                for (int i = _sources.Count - 1; i >= 0; i--)
                {
                    short wanted = _sources[i].WantedEvents();
                    if (wanted < 0) _sources.RemoveAt(i);
                    else if (wanted > 0)
                    {
                        active.Add(_sources[i]);
                        wantedEvents.Add(wanted);
                    }
                }
            }
            if (fds.Length < active.Count + 1) fds = new Libc.PollFd[Math.Max(fds.Length * 2, active.Count + 1)];
            fds[0] = new Libc.PollFd { Fd = _wakeFd, Events = Libc.POLLIN };
            for (int i = 0; i < active.Count; i++)
            {
                fds[i + 1] = new Libc.PollFd { Fd = active[i].Fd, Events = wantedEvents[i] };
            }
            int n;
            fixed (Libc.PollFd* p = fds) n = Libc.poll(p, (nuint)(active.Count + 1), -1);
            if (n < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == Errno.EINTR) continue;
                AgentLog.Info("poll failed: " + Errno.Name(errno));
                Thread.Sleep(10);
                continue;
            }
            if (fds[0].REvents != 0)
            {
                ulong value;
                Libc.read(_wakeFd, (byte*)&value, 8);
            }
            for (int i = 0; i < active.Count; i++)
            {
                short revents = fds[i + 1].REvents;
                if (revents == 0) continue;
                try
                {
                    active[i].OnReady(revents, scratch);
                }
                catch (Exception e)
                {
                    AgentLog.Info("io source failed: " + e.Message);
                }
            }
        }
    }

    public void Dispose()
    {
        _stopping = true;
        Wake();
    }
}

/// <summary>The agent's end of a child's stdout or stderr pipe, with a bounded buffer and long-poll reads.</summary>
internal sealed class OutputPipe : IIoSource
{
    public const int Capacity = 1 << 20;

    private readonly Lock _lock = new();
    private readonly IoLoop _loop;
    private readonly Queue<byte[]> _chunks = new();
    private int _headOffset;
    private int _count;
    private bool _eof;
    private int _fd;
    private TaskCompletionSource? _signal;

    public OutputPipe(int fd, IoLoop loop)
    {
        _fd = fd;
        _loop = loop;
    }

    public int Fd => _fd;

    /// <summary>The pipe is closed and every byte was handed out.</summary>
    public bool Drained
    {
        get { lock (_lock) return _eof && _count == 0; }
    }

    public short WantedEvents()
    {
        lock (_lock)
        {
            if (_fd < 0) return -1;
            return _count < Capacity ? Libc.POLLIN : (short)0;
        }
    }

    public unsafe void OnReady(short revents, Span<byte> scratch)
    {
        int room;
        lock (_lock) room = Capacity - _count;
        if (room <= 0) return;
        nint n;
        int want = Math.Min(room, scratch.Length);
        fixed (byte* p = scratch) n = Libc.read(_fd, p, (nuint)want);
        if (n < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno is Errno.EAGAIN or Errno.EINTR) return;
            n = 0; // any other error ends the stream
        }
        TaskCompletionSource? signal;
        lock (_lock)
        {
            if (n > 0)
            {
                _chunks.Enqueue(scratch[..(int)n].ToArray());
                _count += (int)n;
            }
            else
            {
                _eof = true;
                Libc.close(_fd);
                _fd = -1;
            }
            signal = _signal;
            _signal = null;
        }
        signal?.TrySetResult();
    }

    /// <summary>Waits until some bytes are buffered (returns at most maxBytes) or the pipe closed and is drained.</summary>
    public async Task<(byte[] Data, bool Eof)> ReadAsync(int maxBytes, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task wait;
            lock (_lock)
            {
                if (_count > 0)
                {
                    bool wasFull = _count >= Capacity;
                    int take = Math.Min(maxBytes, _count);
                    var data = new byte[take];
                    int copied = 0;
                    while (copied < take)
                    {
                        var head = _chunks.Peek();
                        int n = Math.Min(head.Length - _headOffset, take - copied);
                        head.AsSpan(_headOffset, n).CopyTo(data.AsSpan(copied));
                        copied += n;
                        _headOffset += n;
                        if (_headOffset == head.Length)
                        {
                            _chunks.Dequeue();
                            _headOffset = 0;
                        }
                    }
                    _count -= take;
                    if (wasFull) _loop.Wake();
                    return (data, _eof && _count == 0);
                }
                if (_eof) return ([], true);
                _signal ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wait = _signal.Task;
            }
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}

/// <summary>The agent's end of a child's stdin pipe: queued writes complete once the bytes are in the pipe.</summary>
internal sealed unsafe class StdinPipe : IIoSource
{
    private sealed class Pending(byte[] data, TaskCompletionSource done)
    {
        public readonly byte[] Data = data;
        public readonly TaskCompletionSource Done = done;
        public int Offset;
    }

    private readonly Lock _lock = new();
    private readonly IoLoop _loop;
    private readonly Queue<Pending> _queue = new();
    private bool _closeRequested;
    private string? _brokenReason;
    private int _fd;

    public StdinPipe(int fd, IoLoop loop)
    {
        _fd = fd;
        _loop = loop;
    }

    public int Fd => _fd;

    public short WantedEvents()
    {
        lock (_lock)
        {
            if (_fd < 0) return -1;
            if (_queue.Count > 0) return Libc.POLLOUT;
            if (_closeRequested)
            {
                Libc.close(_fd);
                _fd = -1;
                return -1;
            }
            return 0;
        }
    }

    public void OnReady(short revents, Span<byte> scratch)
    {
        lock (_lock)
        {
            while (_queue.Count > 0 && _fd >= 0)
            {
                var head = _queue.Peek();
                nint n;
                fixed (byte* p = head.Data) n = Libc.write(_fd, p + head.Offset, (nuint)(head.Data.Length - head.Offset));
                if (n < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno is Errno.EAGAIN or Errno.EINTR) return;
                    Break(errno == Errno.EPIPE ? "stdin is closed: the process no longer reads it" : "stdin write failed: " + Errno.Name(errno));
                    return;
                }
                head.Offset += (int)n;
                if (head.Offset < head.Data.Length) return;
                _queue.Dequeue();
                head.Done.TrySetResult();
            }
            if ((revents & (Libc.POLLERR | Libc.POLLHUP)) != 0 && _queue.Count > 0)
                Break("stdin is closed: the process no longer reads it");
        }
    }

    private void Break(string reason)
    {
        _brokenReason = reason;
        while (_queue.Count > 0) _queue.Dequeue().Done.TrySetException(new Ttrpc.TtrpcException(Ttrpc.StatusCode.FailedPrecondition, reason));
        Libc.close(_fd);
        _fd = -1;
    }

    /// <summary>Closes the pipe once queued data is written (used when the exec is forgotten).</summary>
    public void RequestClose()
    {
        lock (_lock) _closeRequested = true;
        _loop.Wake();
    }

    /// <summary>Queues data (and/or a close); completes when the data is in the pipe.</summary>
    public Task WriteAsync(byte[] data, bool close, CancellationToken cancellationToken)
    {
        Task done = Task.CompletedTask;
        lock (_lock)
        {
            if (_brokenReason is not null) throw new Ttrpc.TtrpcException(Ttrpc.StatusCode.FailedPrecondition, _brokenReason);
            if (_closeRequested) throw new Ttrpc.TtrpcException(Ttrpc.StatusCode.FailedPrecondition, "stdin is already closed");
            if (data.Length > 0)
            {
                var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _queue.Enqueue(new Pending(data, tcs));
                done = tcs.Task;
            }
            if (close) _closeRequested = true;
        }
        _loop.Wake();
        return done.WaitAsync(cancellationToken);
    }
}
