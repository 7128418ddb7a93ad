using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Sandbox.Api;
using Sandbox.Api.V1;

namespace Sandbox.Client;

/// <summary>A connection to sandboxd. Create sandboxes with <see cref="CreateAsync"/> (disposing one deletes it), or run
/// one program in a throw-away sandbox with <see cref="RunAsync(string[])"/>. Thread-safe; dispose it last.</summary>
public sealed class SandboxClient : IDisposable
{
    private readonly GrpcChannel _channel;

    /// <summary>The generated client, for calls this layer does not wrap.</summary>
    public Sandboxes.SandboxesClient Api { get; }

    public SandboxClient(GrpcChannel channel)
    {
        _channel = channel;
        Api = new Sandboxes.SandboxesClient(channel);
    }

    /// <summary>sandboxd on its unix socket: <paramref name="socketPath"/>, else $SANDBOX_SOCKET, else
    /// /run/sandbox/sandboxd.sock. The caller is identified by its uid.</summary>
    public static SandboxClient Connect(string? socketPath = null) =>
        new(SandboxdChannel.ForUnixSocket(SandboxdChannel.ResolveSocketPath(socketPath)));

    /// <summary>Creates a sandbox (the policy decides tier and limits from <paramref name="options"/>). Retried
    /// creates are deduplicated by a request id, so a transient failure never leaves two.</summary>
    public async Task<RemoteSandbox> CreateAsync(SandboxOptions? options = null, CancellationToken cancellationToken = default)
    {
        var request = (options ?? new SandboxOptions()).ToRequest();
        request.RequestId = Guid.NewGuid().ToString("N");
        var created = await Api.CreateSandboxAsync(request, cancellationToken: cancellationToken).ConfigureAwait(false);
        return new RemoteSandbox(Api, created);
    }

    /// <summary>One program in a throw-away sandbox (the Run fast path): its output and exit code.</summary>
    public Task<RunResult> RunAsync(params string[] argv) => RunAsync(argv, null, null);

    public async Task<RunResult> RunAsync(IReadOnlyList<string> argv, SandboxOptions? options, string? stdin, CancellationToken cancellationToken = default)
    {
        var process = ProcessOptions.Start(argv, stdin is not null, null);
        using var call = Api.Run(cancellationToken: cancellationToken);
        await call.RequestStream.WriteAsync(new RunRequest { Start = new RunStart { Sandbox = (options ?? new SandboxOptions()).ToRequest(), Process = process } }, cancellationToken).ConfigureAwait(false);
        if (stdin is not null)
        {
            await call.RequestStream.WriteAsync(new RunRequest { Stdin = ByteString.CopyFromUtf8(stdin) }, cancellationToken).ConfigureAwait(false);
            await call.RequestStream.WriteAsync(new RunRequest { CloseStdin = new StdinClose() }, cancellationToken).ConfigureAwait(false);
        }
        await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        return await RunResult.CollectAsync(call.ResponseStream, cancellationToken).ConfigureAwait(false);
    }

    public void Dispose() => _channel.Dispose();
}
