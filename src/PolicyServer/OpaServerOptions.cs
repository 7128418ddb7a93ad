using System.Net;
using Sandbox.Policy.Rego;

namespace Sandbox.PolicyServer;

/// <summary>Options of <see cref="OpaDataApiServer"/>.</summary>
public sealed class OpaServerOptions
{
    /// <summary>Listen address. Default 127.0.0.1:8181 (loopback).</summary>
    public IPEndPoint Endpoint { get; init; } = new(IPAddress.Loopback, 8181);
    /// <summary>Largest request body, bytes (413 beyond). Default 12 MiB.</summary>
    public int MaxRequestBytes { get; init; } = 12 << 20;
    /// <summary>Largest request head (request line + headers), bytes. Default 16 KiB.</summary>
    public int MaxHeaderBytes { get; init; } = 16 << 10;
    /// <summary>Required <c>Authorization: Bearer</c> token; null = no authentication.</summary>
    public string? BearerToken { get; init; }
    /// <summary>The document <c>POST /</c> evaluates. Default sandbox/decision.</summary>
    public string DefaultDecision { get; init; } = "sandbox/decision";
    /// <summary>Time allowed to receive a request head. Default 10 s.</summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>Evaluation limits per request.</summary>
    public EvalOptions EvalOptions { get; init; } = new() { MaxSteps = 1_000_000, Timeout = TimeSpan.FromSeconds(1) };
    /// <summary>Connections served at once. Default 64.</summary>
    public int MaxConcurrentConnections { get; init; } = 64;
}
