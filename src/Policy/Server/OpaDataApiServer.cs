using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sandbox.Policy.Rego;

namespace Sandbox.Policy.Server;

/// <summary>Options of <see cref="OpaDataApiServer"/>.</summary>
public sealed class OpaServerOptions
{
    /// <summary>Listen address. Default 127.0.0.1:8181 (loopback).</summary>
    public IPEndPoint Endpoint { get; init; } = new(IPAddress.Loopback, 8181);
    /// <summary>Largest request body, bytes. Default 12 MiB.</summary>
    public int MaxRequestBytes { get; init; } = 12 << 20;
    /// <summary>Largest request head (request line + headers), bytes. Default 16 KiB.</summary>
    public int MaxHeaderBytes { get; init; } = 16 << 10;
    /// <summary>Required <c>Authorization: Bearer</c> token; null = no authentication.</summary>
    public string? BearerToken { get; init; }
    /// <summary>The document <c>POST /</c> evaluates. Default sandbox/decision.</summary>
    public string DefaultDecision { get; init; } = "sandbox/decision";
    /// <summary>Time allowed to read one request. Default 10 s.</summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>Evaluation limits per request.</summary>
    public EvalOptions EvalOptions { get; init; } = new() { MaxSteps = 1_000_000, Timeout = TimeSpan.FromSeconds(1) };
    /// <summary>Connections served at once. Default 64.</summary>
    public int MaxConcurrentConnections { get; init; } = 64;
}

/// <summary>
/// Serves a compiled bundle over OPA's Data API: <c>POST|GET /v1/data/{path}</c>, <c>POST /</c>, <c>GET /health</c>.
/// A small HTTP/1.1 server (one request per connection) with bounded request sizes.
/// </summary>
public sealed partial class OpaDataApiServer : IAsyncDisposable
{
    private readonly CompiledPolicy _policy;
    private readonly OpaServerOptions _options;
    private readonly ILogger _logger;
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _slots;
    private Task? _acceptLoop;

    public OpaDataApiServer(CompiledPolicy policy, OpaServerOptions? options = null, ILogger? logger = null)
    {
        _policy = policy;
        _options = options ?? new OpaServerOptions();
        _logger = logger ?? NullLogger.Instance;
        _listener = new TcpListener(_options.Endpoint);
        _slots = new SemaphoreSlim(_options.MaxConcurrentConnections);
    }

    /// <summary>The bound endpoint (useful with port 0).</summary>
    public IPEndPoint LocalEndpoint => (IPEndPoint)_listener.LocalEndpoint;

    public Uri BaseAddress => new($"http://{LocalEndpoint}/");

    public void Start()
    {
        _listener.Start();
        PolicyLog.Listening(_logger, LocalEndpoint);
        _acceptLoop = AcceptLoopAsync(_stop.Token);
    }

    /// <summary>Runs until <paramref name="cancellationToken"/> is cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        Start();
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        if (_acceptLoop is not null)
        {
            try
            {
                await _acceptLoop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
        _stop.Dispose();
        _slots.Dispose();
    }

    private async Task AcceptLoopAsync(CancellationToken ct)
    {
        var connections = new List<Task>();
        while (!ct.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                await _slots.WaitAsync(ct).ConfigureAwait(false);
                client = await _listener.AcceptTcpClientAsync(ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                break;
            }
            connections.RemoveAll(t => t.IsCompleted);
            connections.Add(ServeAsync(client, ct));
        }
        await Task.WhenAll(connections).ConfigureAwait(false);
    }

    private async Task ServeAsync(TcpClient client, CancellationToken ct)
    {
        using var _ = client;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(_options.ReadTimeout);
            var stream = client.GetStream();
            var request = await HttpRequestReader.ReadAsync(stream, _options.MaxHeaderBytes, _options.MaxRequestBytes, timeout.Token).ConfigureAwait(false);
            var response = request.Error ?? Handle(request);
            await WriteAsync(stream, response, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
        {
            PolicyLog.ConnectionFailed(_logger, e.Message);
        }
        finally
        {
            _slots.Release();
        }
    }

    private static async Task WriteAsync(NetworkStream stream, HttpResponse response, CancellationToken ct)
    {
        var body = Encoding.UTF8.GetBytes(response.Body);
        var head = $"HTTP/1.1 {response.Status} {ReasonPhrase(response.Status)}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head), ct).ConfigureAwait(false);
        await stream.WriteAsync(body, ct).ConfigureAwait(false);
        await stream.FlushAsync(ct).ConfigureAwait(false);
    }

    private static string ReasonPhrase(int status) => status switch
    {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        _ => "Internal Server Error",
    };
}

internal sealed record HttpResponse(int Status, string Body);
