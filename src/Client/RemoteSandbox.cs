using System.Runtime.CompilerServices;
using Google.Protobuf;
using Grpc.Core;
using Sandbox.Api.V1;

namespace Sandbox.Client;

/// <summary>A sandbox in sandboxd. Run processes in it (<see cref="RunAsync(string[])"/>, or streamed with
/// <see cref="StreamAsync"/>), move files in and out; disposing it deletes it (a sandbox already gone is fine).</summary>
public sealed class RemoteSandbox : IAsyncDisposable
{
    private readonly Sandboxes.SandboxesClient _api;
    private int _disposed;

    internal RemoteSandbox(Sandboxes.SandboxesClient api, Api.V1.Sandbox info)
    {
        _api = api;
        Info = info;
    }

    public string Id => Info.Id;

    /// <summary>What the sandbox got: tier, accelerator, limits, policy decision (as of creation).</summary>
    public Api.V1.Sandbox Info { get; }

    public Task<RunResult> RunAsync(params string[] argv) => RunAsync(argv, stdin: null);

    /// <summary>Runs a process to completion and returns its output (use <see cref="StreamAsync"/> for large or live
    /// output).</summary>
    public async Task<RunResult> RunAsync(IReadOnlyList<string> argv, string? stdin, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        using var call = await StartAsync(argv, stdin, timeout, cancellationToken).ConfigureAwait(false);
        return await RunResult.CollectAsync(call.ResponseStream, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs a process and yields its output as it is produced, then its exit. Cancelling the enumeration
    /// kills the process.</summary>
    public async IAsyncEnumerable<ExecOutput> StreamAsync(IReadOnlyList<string> argv, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var call = await StartAsync(argv, null, null, cancellationToken).ConfigureAwait(false);
        while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            var e = call.ResponseStream.Current;
            switch (e.EventCase)
            {
                case ExecEvent.EventOneofCase.Stdout: yield return new ExecOutput.Stdout(e.Stdout.Memory); break;
                case ExecEvent.EventOneofCase.Stderr: yield return new ExecOutput.Stderr(e.Stderr.Memory); break;
                case ExecEvent.EventOneofCase.Exit: yield return new ExecOutput.Exited(e.Exit); break;
            }
        }
    }

    private async Task<AsyncDuplexStreamingCall<ExecRequest, ExecEvent>> StartAsync(IReadOnlyList<string> argv, string? stdin, TimeSpan? timeout, CancellationToken cancellationToken)
    {
        var call = _api.Exec(cancellationToken: cancellationToken);
        try
        {
            await call.RequestStream.WriteAsync(new ExecRequest { Start = new ExecStart { SandboxId = Id, Process = ProcessOptions.Start(argv, stdin is not null, timeout) } }, cancellationToken).ConfigureAwait(false);
            if (stdin is not null)
            {
                await call.RequestStream.WriteAsync(new ExecRequest { Stdin = ByteString.CopyFromUtf8(stdin) }, cancellationToken).ConfigureAwait(false);
                await call.RequestStream.WriteAsync(new ExecRequest { CloseStdin = new StdinClose() }, cancellationToken).ConfigureAwait(false);
            }
            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
            return call;
        }
        catch
        {
            call.Dispose();
            throw;
        }
    }

    /// <summary>Creates or replaces a file (mode 0644 unless given), in chunks of 1 MiB.</summary>
    public async Task WriteFileAsync(string path, ReadOnlyMemory<byte> content, int mode = 0x1a4, CancellationToken cancellationToken = default)
    {
        using var call = _api.WriteFile(cancellationToken: cancellationToken);
        await call.RequestStream.WriteAsync(new WriteFileRequest { Header = new WriteFileHeader { SandboxId = Id, Path = path, Mode = (uint)mode } }, cancellationToken).ConfigureAwait(false);
        for (var offset = 0; offset < content.Length; offset += 1 << 20)
            await call.RequestStream.WriteAsync(new WriteFileRequest { Data = ByteString.CopyFrom(content.Span.Slice(offset, Math.Min(1 << 20, content.Length - offset))) }, cancellationToken).ConfigureAwait(false);
        await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        await call.ResponseAsync.ConfigureAwait(false);
    }

    public Task WriteFileAsync(string path, string text, int mode = 0x1a4, CancellationToken cancellationToken = default) =>
        WriteFileAsync(path, System.Text.Encoding.UTF8.GetBytes(text), mode, cancellationToken);

    public async Task<byte[]> ReadFileAsync(string path, CancellationToken cancellationToken = default)
    {
        using var call = _api.ReadFile(new ReadFileRequest { SandboxId = Id, Path = path }, cancellationToken: cancellationToken);
        var content = new MemoryStream();
        while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
            call.ResponseStream.Current.Data.WriteTo(content);
        return content.ToArray();
    }

    /// <summary>Deletes the sandbox (idempotent: one already gone is fine).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
            await _api.DeleteSandboxAsync(new DeleteSandboxRequest { Id = Id, AllowMissing = true }).ConfigureAwait(false);
    }
}
