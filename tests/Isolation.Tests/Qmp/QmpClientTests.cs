using Sandbox.Isolation.MicroVm.Qmp;

namespace Sandbox.Isolation.Tests.Qmp;

/// <summary>The QMP client as a protocol component, against a scripted QEMU end on a real socket.</summary>
public sealed class QmpClientTests
{
    private static async Task<(FakeQmpServer Server, QmpClient Client)> ConnectAsync()
    {
        var server = new FakeQmpServer();
        var connecting = QmpClient.ConnectAsync(server.ClientStream, CancellationToken.None);
        await server.HandshakeAsync();
        return (server, await connecting);
    }

    [Fact]
    public async Task A_late_reply_to_a_cancelled_command_is_not_taken_as_the_next_ones()
    {
        var (server, client) = await ConnectAsync();
        await using (server)
        await using (client)
        {
            using var cancel = new CancellationTokenSource();
            var first = client.QueryStatusAsync(cancel.Token);
            var firstCommand = await server.NextCommandAsync();
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);

            var second = client.QueryMigrationStatusAsync(CancellationToken.None);
            var secondCommand = await server.NextCommandAsync();
            Assert.Equal("query-migrate", secondCommand["execute"]!.GetValue<string>());
            // QEMU answers the cancelled command late, then the second one.
            await server.ReturnAsync(firstCommand, """{"running": true, "status": "running"}""");
            await server.ReturnAsync(secondCommand, """{"status": "completed"}""");
            Assert.Equal("completed", await second);
        }
    }

    [Fact]
    public async Task Qemus_error_description_is_surfaced()
    {
        var (server, client) = await ConnectAsync();
        await using (server)
        await using (client)
        {
            var stop = client.StopAsync(CancellationToken.None);
            await server.ErrorAsync(await server.NextCommandAsync(), "GenericError", "Migration is disabled when VirtFS export path is mounted");
            var e = await Assert.ThrowsAsync<QmpException>(() => stop);
            Assert.Equal("GenericError", e.ErrorClass);
            Assert.Contains("VirtFS export path", e.Message);
            Assert.Contains("stop", e.Message);
        }
    }

    [Fact]
    public async Task Events_between_answers_are_queued_and_answers_still_match()
    {
        var (server, client) = await ConnectAsync();
        await using (server)
        await using (client)
        {
            var cont = client.ContAsync(CancellationToken.None);
            var command = await server.NextCommandAsync();
            await server.SendAsync("""{"event": "RESUME", "data": {}, "timestamp": {"seconds": 1, "microseconds": 2}}""");
            await server.ReturnAsync(command);
            await cont;
            var e = await client.WaitForEventAsync("RESUME", null, CancellationToken.None).WaitAsync(TimeSpan.FromMinutes(1));
            Assert.Equal("RESUME", e.Name);
        }
    }

    [Fact]
    public async Task A_closed_connection_fails_the_pending_command_as_unavailable()
    {
        var (server, client) = await ConnectAsync();
        await using (server)
        await using (client)
        {
            var status = client.QueryStatusAsync(CancellationToken.None);
            await server.NextCommandAsync();
            server.CloseAbruptly();
            var e = await Assert.ThrowsAsync<SandboxException>(() => status);
            Assert.Equal(SandboxErrorCode.Unavailable, e.Code);
            // And later commands fail the same way at once, without hanging.
            e = await Assert.ThrowsAsync<SandboxException>(() => client.QueryStatusAsync(CancellationToken.None));
            Assert.Equal(SandboxErrorCode.Unavailable, e.Code);
        }
    }

    [Fact]
    public async Task Dispose_is_idempotent_and_fails_what_is_pending()
    {
        var (server, client) = await ConnectAsync();
        await using (server)
        {
            var status = client.QueryStatusAsync(CancellationToken.None);
            await server.NextCommandAsync();
            await client.DisposeAsync();
            await client.DisposeAsync();
            await Assert.ThrowsAnyAsync<Exception>(() => status);
        }
    }

    [Fact]
    public async Task Every_command_is_written_as_one_whole_line_even_when_cancelled_at_once()
    {
        var (server, client) = await ConnectAsync();
        await using (server)
        await using (client)
        {
            // Cancelled before the write could finish: the line is either not sent at all or sent whole.
            using var cancelled = new CancellationTokenSource();
            await cancelled.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.SetMigrationCapabilitiesAsync(["x-ignore-shared"], cancelled.Token));
            var next = client.QueryStatusAsync(CancellationToken.None);
            var command = await server.NextCommandAsync(); // parses as a whole JSON object, or the fake server would throw
            Assert.Equal("query-status", command["execute"]!.GetValue<string>());
            await server.ReturnAsync(command, """{"running": false, "status": "paused"}""");
            Assert.Equal(new QmpStatus(false, "paused"), await next);
        }
    }
}
