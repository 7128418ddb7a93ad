using System.Diagnostics;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Sandbox.Api.V1;
using Sandbox.SandboxApi.StreamLimits;
using static Sandbox.SandboxApi.Tests.Streams;

namespace Sandbox.SandboxApi.Tests;

/// <summary>Issue 9 item 4: uploads are authorized and their sandbox looked up before any data is read, files stream
/// through chunk by chunk, and each tenant's open streams and their buffers are bounded (RESOURCE_EXHAUSTED naming
/// the limit).</summary>
[Collection("sandboxd")]
public sealed class StreamLimitTests(SharedServer shared)
{
    [Fact]
    public async Task WriteFile_ToAMissingSandbox_FailsBeforeTheUploadEnds()
    {
        var c = shared.Server.Client;
        // Only the header is sent and the request stream stays open: a server that buffered the upload first would
        // wait for the rest (and answer only at the deadline); this one looks the sandbox up and answers at once.
        using var write = c.WriteFile(new CallOptions(deadline: DateTime.UtcNow.AddSeconds(60)));
        await write.RequestStream.WriteAsync(new WriteFileRequest { Header = new WriteFileHeader { SandboxId = "sb-0000000000000000", Path = "/work/x" } });
        var e = await Assert.ThrowsAsync<RpcException>(() => write.ResponseAsync);
        Assert.Equal(StatusCode.NotFound, e.StatusCode);

        // Another tenant's sandbox looks the same: not found, nothing read.
        var sb = await c.CreateSandboxAsync(Trusted());
        try
        {
            using var other = c.WriteFile(SandboxdServer.As("ci", DateTime.UtcNow.AddSeconds(60)));
            await other.RequestStream.WriteAsync(new WriteFileRequest { Header = new WriteFileHeader { SandboxId = sb.Id, Path = "/work/x" } });
            e = await Assert.ThrowsAsync<RpcException>(() => other.ResponseAsync);
            Assert.Equal(StatusCode.NotFound, e.StatusCode);
        }
        finally
        {
            await c.DeleteSandboxAsync(new DeleteSandboxRequest { Id = sb.Id });
        }
    }

    [Fact]
    public async Task LargeFile_StreamsBothWays_IntactAndEmptyFileToo()
    {
        var c = shared.Server.Client;
        var sb = await c.CreateSandboxAsync(Trusted());
        try
        {
            var content = new byte[(12 << 20) + 12345];
            new Random(9).NextBytes(content);
            Assert.Equal(content.Length, await UploadAsync(c, sb.Id, "/work/big", content, chunk: 700_000));
            Assert.Equal(content, await DownloadAsync(c, sb.Id, "/work/big"));
            Assert.Equal(0, await UploadAsync(c, sb.Id, "/work/empty", [], chunk: 1));
            Assert.Empty(await DownloadAsync(c, sb.Id, "/work/empty"));
        }
        finally
        {
            await c.DeleteSandboxAsync(new DeleteSandboxRequest { Id = sb.Id });
        }
    }

    [Fact]
    public async Task TenantStreams_AreBounded_InCountAndBytes()
    {
        var root = SandboxdServer.NewRoot();
        // ci: 3 streams, 10 MiB of buffers: two file transfers (4 MiB each) fit, a third does not; a WatchEvents
        // (256 KiB) then fits by bytes and is the third stream; an Exec is then one stream too many.
        var yaml = SandboxdServer.Yaml(root).Replace("max_sandboxes: 3", "max_sandboxes: 3\n    max_streams: 3\n    max_inflight_mib: 10");
        await using var server = await SandboxdServer.StartAsync(yaml, root);
        var c = server.Client;
        var limiter = server.App.Services.GetRequiredService<TenantStreamLimiter>();
        var asCi = SandboxdServer.As("ci");
        var sb = await c.CreateSandboxAsync(Trusted(), asCi);

        var uploads = new List<AsyncClientStreamingCall<WriteFileRequest, WriteFileResponse>>();
        for (var i = 0; i < 2; i++)
        {
            var w = c.WriteFile(asCi);
            await w.RequestStream.WriteAsync(new WriteFileRequest { Header = new WriteFileHeader { SandboxId = sb.Id, Path = $"/work/f{i}" } });
            await w.RequestStream.WriteAsync(new WriteFileRequest { Data = ByteString.CopyFromUtf8($"file {i}") });
            uploads.Add(w);
        }
        await UntilAsync(() => limiter.UsageOf("ci").Streams == 2);
        Assert.Equal(8L << 20, limiter.UsageOf("ci").Bytes);

        var third = Assert.ThrowsAsync<RpcException>(() => UploadAsync(c, sb.Id, "/work/f2", [1, 2, 3], 3, asCi));
        var e = await third;
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("tenants[].max_inflight_mib = 10", e.Status.Detail);

        using var watch = c.WatchEvents(new WatchEventsRequest(), asCi);
        await watch.ResponseHeadersAsync;
        Assert.Equal(3, limiter.UsageOf("ci").Streams);
        e = await Assert.ThrowsAsync<RpcException>(() => ExecAsync(c, sb.Id, Process("true"), options: asCi));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("tenants[].max_streams = 3", e.Status.Detail);
        // Other tenants are not affected by ci's streams.
        Assert.Equal(0, (await ExecAsync(c, (await c.CreateSandboxAsync(Trusted())).Id, Process("true"))).Exit!.ExitCode);

        // Ending streams gives their share back.
        foreach (var w in uploads)
        {
            await w.RequestStream.CompleteAsync();
            Assert.Equal(6, (await w.ResponseAsync).BytesWritten);
            w.Dispose();
        }
        watch.Dispose();
        await UntilAsync(() => limiter.UsageOf("ci").Streams == 0);
        Assert.Equal((0, 0L), limiter.UsageOf("ci"));
        Assert.Equal("file 0file 1", (await ExecAsync(c, sb.Id, Process("sh", "-c", "cat /work/f0 /work/f1"), options: asCi)).Stdout);
    }

    internal static async Task<long> UploadAsync(Sandboxes.SandboxesClient c, string id, string path, byte[] content, int chunk, CallOptions options = default)
    {
        using var write = c.WriteFile(options);
        try
        {
            await write.RequestStream.WriteAsync(new WriteFileRequest { Header = new WriteFileHeader { SandboxId = id, Path = path } });
            for (var i = 0; i < content.Length; i += chunk)
                await write.RequestStream.WriteAsync(new WriteFileRequest { Data = ByteString.CopyFrom(content, i, Math.Min(chunk, content.Length - i)) });
            await write.RequestStream.CompleteAsync();
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException)
        {
            // The server may end the call (a refusal) while the request is still being written: the writer then sees
            // the call cancelled or complete, and the server's own status is the response's.
            await write.ResponseAsync;
            throw;
        }
        return (await write.ResponseAsync).BytesWritten;
    }

    internal static async Task<byte[]> DownloadAsync(Sandboxes.SandboxesClient c, string id, string path, CallOptions options = default)
    {
        using var read = c.ReadFile(new ReadFileRequest { SandboxId = id, Path = path }, options);
        var all = new MemoryStream();
        while (await read.ResponseStream.MoveNext())
        {
            Assert.True(read.ResponseStream.Current.Data.Length <= 1 << 20, "a ReadFile chunk is larger than 1 MiB");
            read.ResponseStream.Current.Data.WriteTo(all);
        }
        return all.ToArray();
    }

    /// <summary>Waits (bounded) for the server to reach a state the client cannot observe through the API.</summary>
    private static async Task UntilAsync(Func<bool> condition)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(30))
                throw new TimeoutException("the server did not reach the expected stream usage within 30 s");
            await Task.Delay(20);
        }
    }
}
