using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Sandbox.Api.V1;

namespace Sandbox.SandboxApi.Tests;

/// <summary>Client-side helpers: drive Exec/Run streams and collect their events.</summary>
public static class Streams
{
    public sealed record Outcome(Started? Started, string Stdout, string Stderr, Exit? Exit);

    public static async Task<Outcome> CollectAsync(IAsyncStreamReader<ExecEvent> events, CancellationToken cancellationToken = default)
    {
        Started? started = null;
        Exit? exit = null;
        var stdout = new MemoryStream();
        var stderr = new MemoryStream();
        while (await events.MoveNext(cancellationToken))
        {
            var e = events.Current;
            switch (e.EventCase)
            {
                case ExecEvent.EventOneofCase.Started: started = e.Started; break;
                case ExecEvent.EventOneofCase.Stdout: e.Stdout.WriteTo(stdout); break;
                case ExecEvent.EventOneofCase.Stderr: e.Stderr.WriteTo(stderr); break;
                case ExecEvent.EventOneofCase.Exit: exit = e.Exit; break;
            }
        }
        return new Outcome(started, Encoding.UTF8.GetString(stdout.ToArray()), Encoding.UTF8.GetString(stderr.ToArray()), exit);
    }

    /// <summary>A request that vouches for its code, as a tenant running its own job does. The API is fail-safe: a
    /// request silent about trust is untrusted and gets a microVM.</summary>
    public static CreateSandboxRequest Trusted() => new() { Untrusted = false, CodeProvenance = "tenant" };

    public static ProcessStart Process(params string[] argv)
    {
        var p = new ProcessStart();
        p.Argv.AddRange(argv);
        return p;
    }

    public static async Task<Outcome> RunAsync(Sandboxes.SandboxesClient client, ProcessStart process, string? stdin = null,
        CallOptions options = default, CreateSandboxRequest? sandbox = null)
    {
        using var call = client.Run(options);
        process.Stdin = stdin is not null;
        await call.RequestStream.WriteAsync(new RunRequest { Start = new RunStart { Sandbox = sandbox ?? Trusted(), Process = process } });
        if (stdin is not null)
        {
            await call.RequestStream.WriteAsync(new RunRequest { Stdin = ByteString.CopyFromUtf8(stdin) });
            await call.RequestStream.WriteAsync(new RunRequest { CloseStdin = new StdinClose() });
        }
        await call.RequestStream.CompleteAsync();
        return await CollectAsync(call.ResponseStream);
    }

    public static async Task<Outcome> ExecAsync(Sandboxes.SandboxesClient client, string id, ProcessStart process, string? stdin = null,
        CallOptions options = default)
    {
        using var call = client.Exec(options);
        process.Stdin = stdin is not null;
        await call.RequestStream.WriteAsync(new ExecRequest { Start = new ExecStart { SandboxId = id, Process = process } });
        if (stdin is not null)
        {
            await call.RequestStream.WriteAsync(new ExecRequest { Stdin = ByteString.CopyFromUtf8(stdin) });
            await call.RequestStream.WriteAsync(new ExecRequest { CloseStdin = new StdinClose() });
        }
        await call.RequestStream.CompleteAsync();
        return await CollectAsync(call.ResponseStream);
    }
}
