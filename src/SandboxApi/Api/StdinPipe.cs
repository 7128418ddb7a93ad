using System.IO.Pipelines;

namespace Sandbox.SandboxApi.Api;

/// <summary>Stdin chunks from the request stream to the process. The pipe pauses the request reader while 64 KiB are
/// waiting for the process to read them (backpressure toward the client).</summary>
internal sealed class StdinPipe
{
    public const int PauseWriterBytes = 64 * 1024;

    private readonly Pipe _pipe = new(new PipeOptions(pauseWriterThreshold: PauseWriterBytes, resumeWriterThreshold: PauseWriterBytes / 2));
    private int _closed;

    public Stream Reader => _pipe.Reader.AsStream();

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _closed) != 0 || data.IsEmpty)
            return;
        var result = await _pipe.Writer.WriteAsync(data, cancellationToken).ConfigureAwait(false);
        if (result.IsCompleted)
            Close();
    }

    /// <summary>End of stdin (idempotent).</summary>
    public void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 0)
            _pipe.Writer.Complete();
    }
}
