using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace Sandbox.Isolation.Tests.Qmp;

/// <summary>The QEMU end of a QMP connection, scripted by a test: it sends the greeting, and hands every command the
/// client writes to the test (<see cref="NextCommandAsync"/>), which answers when and how it wants.</summary>
internal sealed class FakeQmpServer : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly Channel<JsonObject> _commands = Channel.CreateUnbounded<JsonObject>();
    private readonly Task _reader;

    public Stream ClientStream { get; }

    public FakeQmpServer()
    {
        var pair = SocketPairs.Create();
        _socket = pair.Server;
        _stream = new NetworkStream(_socket, ownsSocket: true);
        ClientStream = new NetworkStream(pair.Client, ownsSocket: true);
        _reader = ReadAsync();
    }

    public Task SendGreetingAsync() => SendAsync("""{"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}}, "capabilities": []}}""");

    public async Task SendAsync(string line)
    {
        var bytes = Encoding.UTF8.GetBytes(line + "\n");
        await _stream.WriteAsync(bytes);
    }

    public Task ReturnAsync(JsonObject command, string value = "{}") => SendAsync($$"""{"return": {{value}}, "id": {{command["id"]!.ToJsonString()}}}""");

    public Task ErrorAsync(JsonObject command, string cls, string desc) =>
        SendAsync($$"""{"error": {"class": "{{cls}}", "desc": "{{desc}}"}, "id": {{command["id"]!.ToJsonString()}}}""");

    /// <summary>The next command the client wrote (each as one whole line).</summary>
    public async Task<JsonObject> NextCommandAsync() =>
        await _commands.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromMinutes(1));

    /// <summary>Accepts the client's qmp_capabilities.</summary>
    public async Task HandshakeAsync()
    {
        await SendGreetingAsync();
        var caps = await NextCommandAsync();
        Assert.Equal("qmp_capabilities", caps["execute"]!.GetValue<string>());
        await ReturnAsync(caps);
    }

    public void CloseAbruptly() => _socket.Shutdown(SocketShutdown.Both);

    private async Task ReadAsync()
    {
        using var reader = new StreamReader(_stream, Encoding.UTF8, false, 1024, leaveOpen: true);
        try
        {
            while (await reader.ReadLineAsync() is { } line)
                _commands.Writer.TryWrite((JsonObject)JsonNode.Parse(line)!);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
        }
        _commands.Writer.TryComplete();
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        await _reader;
    }
}

internal static class SocketPairs
{
    public static (Socket Client, Socket Server) Create()
    {
        var path = Path.Combine(Path.GetTempPath(), "qmp-test-" + Guid.NewGuid().ToString("N")[..12] + ".sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        try
        {
            var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            client.Connect(new UnixDomainSocketEndPoint(path));
            return (client, listener.Accept());
        }
        finally
        {
            File.Delete(path);
        }
    }
}
