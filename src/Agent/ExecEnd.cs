using Google.Protobuf;
using Sandbox.AgentProtocol.V1;

namespace Sandbox.Agent;

/// <summary>
/// The answer of an Exec that asked to wait (<see cref="ExecRequest.WaitMs"/>): once the process has exited and both
/// of its output streams have ended, its exit status and output in the one reply — a short exec costs one call instead
/// of Exec, Wait and two ReadOutput, each of which is a thread-pool hop on both sides and a context switch on a loaded
/// host. Whatever is not done when the wait ends (the time is up, or a stream filled its share of the reply) stays with
/// the exec: the host takes it with Wait and ReadOutput, from where this reply left off.
/// </summary>
internal static class ExecEnd
{
    /// <summary>The longest wait an Exec may ask for: well inside the host's deadline for one call.</summary>
    public const uint MaxWaitMs = 1000;

    public const int DefaultMaxOutputBytes = 64 * 1024;

    public static async ValueTask<ExecResponse> AwaitAsync(ExecState exec, uint waitMs, uint maxOutputBytes, CancellationToken cancellationToken)
    {
        int max = maxOutputBytes == 0 ? DefaultMaxOutputBytes : (int)Math.Min(maxOutputBytes, (uint)AgentService.MaxChunk);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stop.CancelAfter(TimeSpan.FromMilliseconds(waitMs));
        var stdout = DrainAsync(exec.Stdout, max, stop);
        var stderr = DrainAsync(exec.Stderr, max, stop);
        var (outData, outEof) = await stdout.ConfigureAwait(false);
        var (errData, errEof) = await stderr.ConfigureAwait(false);
        var response = new ExecResponse { Pid = exec.Pid, Stdout = outData, Stderr = errData, StdoutEof = outEof, StderrEof = errEof };
        if (!stop.IsCancellationRequested)
        {
            try
            {
                // Both streams ended: the process has exited (or a background child of it holds nothing open), so the
                // reaper's answer is moments away; a process that closed its streams and lives on gets the rest of the wait.
                response.Exit = (await exec.Exited.WaitAsync(stop.Token).ConfigureAwait(false)).Clone();
            }
            catch (OperationCanceledException)
            {
            }
        }
        else if (exec.Exited.IsCompletedSuccessfully)
        {
            response.Exit = exec.Exited.Result.Clone();
        }
        return response;
    }

    /// <summary>A stream's output up to <paramref name="max"/> bytes, and whether it ended; a stream that filled its share
    /// ends the wait for both (the reply goes now, the rest is read with ReadOutput).</summary>
    private static async Task<(ByteString Data, bool Eof)> DrainAsync(OutputPipe pipe, int max, CancellationTokenSource stop)
    {
        var chunks = new List<byte[]>(1);
        int total = 0;
        while (total < max)
        {
            byte[] data;
            bool eof;
            try
            {
                (data, eof) = await pipe.ReadAsync(max - total, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            if (data.Length > 0)
                chunks.Add(data);
            total += data.Length;
            if (eof)
                return (Join(chunks, total), true);
        }
        if (total >= max)
            await stop.CancelAsync().ConfigureAwait(false);
        return (Join(chunks, total), false);
    }

    private static ByteString Join(List<byte[]> chunks, int total)
    {
        if (chunks.Count <= 1)
            return chunks.Count == 0 ? ByteString.Empty : UnsafeByteOperations.UnsafeWrap(chunks[0]);
        var all = new byte[total];
        int at = 0;
        foreach (var c in chunks)
        {
            c.CopyTo(all, at);
            at += c.Length;
        }
        return UnsafeByteOperations.UnsafeWrap(all);
    }
}
