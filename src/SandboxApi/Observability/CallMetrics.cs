using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Sandbox.SandboxApi.Observability;

/// <summary>Per-call instruments (System.Diagnostics.Metrics, exported by OpenTelemetry's Prometheus exporter): calls and
/// their durations by gRPC method, status code and tenant. The tenant label is the configured tenant name (a bounded
/// set), never a caller-chosen string; unauthenticated calls count as tenant "-".</summary>
public sealed class CallMetrics : IDisposable
{
    public const string MeterName = "Sandbox.Sandboxd";

    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _calls;
    private readonly Histogram<double> _duration;

    public CallMetrics()
    {
        _calls = _meter.CreateCounter<long>("sandboxd.rpc.calls", "{call}", "gRPC calls by method, status code and tenant");
        _duration = _meter.CreateHistogram<double>("sandboxd.rpc.duration", "s", "gRPC call duration by method, status code and tenant");
    }

    public void Record(string method, string code, string tenant, TimeSpan elapsed)
    {
        var tags = new TagList { { "rpc.method", method }, { "rpc.grpc.status_code", code }, { "tenant", tenant } };
        _calls.Add(1, tags);
        _duration.Record(elapsed.TotalSeconds, tags);
    }

    public void Dispose() => _meter.Dispose();
}
