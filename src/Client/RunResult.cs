using System.Text;
using Grpc.Core;
using Sandbox.Api.V1;

namespace Sandbox.Client;

/// <summary>A finished process: its exit code (128 + N when signal N ended it), its output, and what the engine saw
/// (timeout, OOM, truncation, CPU time) in <see cref="Exit"/>.</summary>
public sealed record RunResult(int ExitCode, string Stdout, string Stderr, Exit Exit)
{
    public bool TimedOut => Exit.TimedOut;
    public bool OomKilled => Exit.OomKilled;

    internal static async Task<RunResult> CollectAsync(IAsyncStreamReader<ExecEvent> events, CancellationToken cancellationToken)
    {
        var stdout = new MemoryStream();
        var stderr = new MemoryStream();
        Exit? exit = null;
        while (await events.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            var e = events.Current;
            switch (e.EventCase)
            {
                case ExecEvent.EventOneofCase.Stdout: e.Stdout.WriteTo(stdout); break;
                case ExecEvent.EventOneofCase.Stderr: e.Stderr.WriteTo(stderr); break;
                case ExecEvent.EventOneofCase.Exit: exit = e.Exit; break;
            }
        }
        if (exit is null)
            throw new InvalidOperationException("sandboxd ended the call without an exit status");
        return new RunResult(exit.ExitCode, Encoding.UTF8.GetString(stdout.ToArray()), Encoding.UTF8.GetString(stderr.ToArray()), exit);
    }
}

/// <summary>One piece of a streaming exec: output as it is produced, then exactly one exit.</summary>
public abstract record ExecOutput
{
    public sealed record Stdout(ReadOnlyMemory<byte> Data) : ExecOutput;
    public sealed record Stderr(ReadOnlyMemory<byte> Data) : ExecOutput;
    public sealed record Exited(Exit Exit) : ExecOutput;
}
