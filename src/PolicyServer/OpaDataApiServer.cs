using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Sandbox.Policy.Rego;

namespace Sandbox.PolicyServer;

/// <summary>
/// Serves a compiled bundle over OPA's Data API (<c>POST|GET /v1/data/{path}</c>, <c>POST /</c>, <c>GET /health</c>)
/// on Kestrel (the slim host: no reflection-based routing, NativeAOT-compatible). Request sizes, header size,
/// header timeout and concurrent connections are bounded by <see cref="OpaServerOptions"/>.
/// </summary>
public sealed class OpaDataApiServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private bool _started;

    public OpaDataApiServer(CompiledPolicy policy, OpaServerOptions? options = null, ILoggerProvider? logging = null)
    {
        var o = options ?? new OpaServerOptions();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        if (logging is not null) builder.Logging.AddProvider(logging);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(o.Endpoint);
            k.Limits.MaxRequestBodySize = o.MaxRequestBytes;
            k.Limits.MaxRequestHeadersTotalSize = o.MaxHeaderBytes;
            k.Limits.MaxRequestLineSize = Math.Min(o.MaxHeaderBytes, 8192);
            k.Limits.RequestHeadersTimeout = o.ReadTimeout;
            k.Limits.MaxConcurrentConnections = o.MaxConcurrentConnections;
        });
        _app = builder.Build();
        var handler = new OpaDataApiHandler(policy, o);
        _app.Run(handler.HandleAsync);
    }

    /// <summary>The bound endpoint (the real port when the options asked for port 0). Valid after start.</summary>
    public IPEndPoint LocalEndpoint
    {
        get
        {
            var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            var uri = new Uri(address);
            return new IPEndPoint(IPAddress.Parse(uri.Host.Trim('[', ']')), uri.Port);
        }
    }

    public Uri BaseAddress => new($"http://{LocalEndpoint}/");

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _app.StartAsync(cancellationToken).ConfigureAwait(false);
        _started = true;
    }

    /// <summary>Serves until <paramref name="cancellationToken"/> is cancelled, then stops.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        await StartAsync(cancellationToken).ConfigureAwait(false);
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
        // Shutdown gets its own bound, never the caller's (possibly cancelled) token.
        using var shutdown = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        if (_started) await _app.StopAsync(shutdown.Token).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
