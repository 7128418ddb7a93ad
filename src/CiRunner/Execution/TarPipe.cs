using System.IO.Pipelines;

namespace Sandbox.CiRunner.Execution;

/// <summary>Connects a tar producer to a tar consumer through a bounded in-memory pipe, so a workspace or an artifact
/// of any size crosses with at most the pipe's window (1 MiB) in host memory. A failure on either side ends the other
/// (its token is cancelled and the pipe completed with the error), and the first error is rethrown.</summary>
public static class TarPipe
{
    private static readonly PipeOptions Options = new(pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 512 << 10, useSynchronizationContext: false);

    public static async Task TransferAsync(Func<Stream, CancellationToken, Task> produce, Func<Stream, CancellationToken, Task> consume,
        CancellationToken cancellationToken)
    {
        var pipe = new Pipe(Options);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        async Task Produce()
        {
            try
            {
                await using (var writer = pipe.Writer.AsStream(leaveOpen: true))
                    await produce(writer, cts.Token).ConfigureAwait(false);
                await pipe.Writer.CompleteAsync().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                await cts.CancelAsync().ConfigureAwait(false);
                await pipe.Writer.CompleteAsync(e).ConfigureAwait(false);
                throw;
            }
        }
        async Task Consume()
        {
            try
            {
                await using (var reader = pipe.Reader.AsStream(leaveOpen: true))
                    await consume(reader, cts.Token).ConfigureAwait(false);
                await pipe.Reader.CompleteAsync().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                await cts.CancelAsync().ConfigureAwait(false);
                await pipe.Reader.CompleteAsync(e).ConfigureAwait(false);
                throw;
            }
        }
        var producer = Produce();
        var consumer = Consume();
        try
        {
            await Task.WhenAll(producer, consumer).ConfigureAwait(false);
        }
        catch
        {
            // Report the side that failed first, not the other's reaction to it (a cancellation or a closed pipe).
            var first = new[] { producer, consumer }.Where(t => t.IsFaulted && t.Exception!.InnerException is not OperationCanceledException)
                .Select(t => t.Exception!.InnerException!).FirstOrDefault();
            if (first is not null)
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
            throw;
        }
    }
}
