using Google.Protobuf;
using Grpc.Core;
using Sandbox.Api.V1;

namespace Sandbox.Cli.Commands.Remote;

/// <summary>A call that runs one process and streams its events back: Exec (in an existing sandbox) or Run (one-shot,
/// one round trip). Both answer with the same events; each wraps the session's inputs in its own request message.
/// Writes are not synchronised here (<see cref="ProcessSession"/> holds the one write lock).</summary>
internal abstract class ProcessCall : IDisposable
{
    public abstract IAsyncStreamReader<ExecEvent> Events { get; }

    public abstract Task StartAsync(CancellationToken cancellationToken);
    public abstract Task StdinAsync(ByteString data, CancellationToken cancellationToken);
    public abstract Task CloseStdinAsync(CancellationToken cancellationToken);
    public abstract Task SignalAsync(int number, CancellationToken cancellationToken);
    public abstract Task ResizeAsync(WindowSize size, CancellationToken cancellationToken);
    public abstract void Dispose();
}

/// <summary>sandbox.v1 Exec: a process in an existing sandbox, with a tty when asked.</summary>
internal sealed class ExecCall(AsyncDuplexStreamingCall<ExecRequest, ExecEvent> call, ExecStart start) : ProcessCall
{
    public override IAsyncStreamReader<ExecEvent> Events => call.ResponseStream;

    public override Task StartAsync(CancellationToken cancellationToken) => Write(new() { Start = start }, cancellationToken);
    public override Task StdinAsync(ByteString data, CancellationToken cancellationToken) => Write(new() { Stdin = data }, cancellationToken);
    public override Task CloseStdinAsync(CancellationToken cancellationToken) => Write(new() { CloseStdin = new StdinClose() }, cancellationToken);
    public override Task SignalAsync(int number, CancellationToken cancellationToken) => Write(new() { Signal = new Signal { Number = number } }, cancellationToken);
    public override Task ResizeAsync(WindowSize size, CancellationToken cancellationToken) => Write(new() { Resize = size }, cancellationToken);
    public override void Dispose() => call.Dispose();

    private Task Write(ExecRequest message, CancellationToken cancellationToken) => call.RequestStream.WriteAsync(message, cancellationToken);
}

/// <summary>sandbox.v1 Run: policy, an ephemeral sandbox, the process and the teardown in one call (no tty: the Run
/// stream has no resize, and the CLI asks for none).</summary>
internal sealed class RunCall(AsyncDuplexStreamingCall<RunRequest, ExecEvent> call, RunStart start) : ProcessCall
{
    public override IAsyncStreamReader<ExecEvent> Events => call.ResponseStream;

    public override Task StartAsync(CancellationToken cancellationToken) => Write(new() { Start = start }, cancellationToken);
    public override Task StdinAsync(ByteString data, CancellationToken cancellationToken) => Write(new() { Stdin = data }, cancellationToken);
    public override Task CloseStdinAsync(CancellationToken cancellationToken) => Write(new() { CloseStdin = new StdinClose() }, cancellationToken);
    public override Task SignalAsync(int number, CancellationToken cancellationToken) => Write(new() { Signal = new Signal { Number = number } }, cancellationToken);
    public override Task ResizeAsync(WindowSize size, CancellationToken cancellationToken) => Task.CompletedTask;
    public override void Dispose() => call.Dispose();

    private Task Write(RunRequest message, CancellationToken cancellationToken) => call.RequestStream.WriteAsync(message, cancellationToken);
}
