using System.Threading.Channels;
using Google.Protobuf;
using Grpc.Core;
using Sandbox.Api.V1;

namespace Sandbox.SandboxApi.Api;

/// <summary>Serializes a process's events onto one response stream (a gRPC stream takes one write at a time).
/// Output arrives through <see cref="Stdout"/>/<see cref="Stderr"/> as the engine writes it; the bounded queue makes a
/// slow client slow the process's output down (backpressure). Once the client is gone, output is dropped so the
/// engine's own bookkeeping (exit status, teardown) is never blocked by a dead call. Output waits for the Started
/// event (<see cref="SendStartedAsync"/>): a short exec's output can come with the agent's answer to its start, before
/// the service has sent Started, and clients are promised Started first.</summary>
internal sealed class EventPump : IAsyncDisposable
{
    public const int MaxChunkBytes = 64 * 1024;
    /// <summary>Events (each at most <see cref="MaxChunkBytes"/> of output) waiting for the client; with it, a stream's
    /// output buffers are bounded whatever the process writes (StreamLimits/StreamCost).</summary>
    public const int QueueDepth = 16;

    private readonly Channel<ExecEvent> _queue = Channel.CreateBounded<ExecEvent>(new BoundedChannelOptions(QueueDepth)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.Wait,
    });
    private readonly CancellationToken _callGone;
    private readonly Task _writer;
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public EventPump(IServerStreamWriter<ExecEvent> responses, CancellationToken callGone)
    {
        _callGone = callGone;
        _writer = WriteAllAsync(responses);
        Stdout = new OutputStream(this, stderr: false);
        Stderr = new OutputStream(this, stderr: true);
    }

    public Stream Stdout { get; }
    public Stream Stderr { get; }

    /// <summary>Sends the Started event, then lets output through.</summary>
    public async ValueTask SendStartedAsync(Started started)
    {
        await SendAsync(new ExecEvent { Started = started }).ConfigureAwait(false);
        _started.TrySetResult();
    }

    public async ValueTask SendAsync(ExecEvent e)
    {
        try
        {
            await _queue.Writer.WriteAsync(e, _callGone).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException)
        {
            // The client is gone: drop.
        }
    }

    private async Task WriteAllAsync(IServerStreamWriter<ExecEvent> responses)
    {
        await Task.Yield();
        try
        {
            await foreach (var e in _queue.Reader.ReadAllAsync(_callGone).ConfigureAwait(false))
                await responses.WriteAsync(e, _callGone).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or InvalidOperationException or IOException)
        {
            // The client went away; later events are dropped.
            _queue.Writer.TryComplete();
        }
    }

    /// <summary>Flushes every queued event (the final exit event included) to the client.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        _started.TrySetResult(); // output still waiting (no Started was sent: the start failed) is dropped, not held

        await _writer.ConfigureAwait(false);
    }

    private sealed class OutputStream(EventPump pump, bool stderr) : Stream
    {
        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (!pump._started.Task.IsCompleted)
                await pump._started.Task.ConfigureAwait(false);
            for (var offset = 0; offset < buffer.Length; offset += MaxChunkBytes)
            {
                var chunk = ByteString.CopyFrom(buffer.Span.Slice(offset, Math.Min(MaxChunkBytes, buffer.Length - offset)));
                await pump.SendAsync(stderr ? new ExecEvent { Stderr = chunk } : new ExecEvent { Stdout = chunk }).ConfigureAwait(false);
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count).GetAwaiter().GetResult();

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
}
