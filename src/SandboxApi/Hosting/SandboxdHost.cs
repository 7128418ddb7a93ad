using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Grpc.Health.V1;
using Grpc.HealthCheck;
using Sandbox.Api;
using Sandbox.Isolation;
using Sandbox.Isolation.Agent;
using Sandbox.Isolation.Container;
using Sandbox.Isolation.MicroVm;
using Sandbox.Policy;
using Sandbox.Policy.Opa;
using Sandbox.Policy.Rego;
using Sandbox.SandboxApi.Api;
using Sandbox.SandboxApi.Auth;
using Sandbox.SandboxApi.Configuration;
using Sandbox.SandboxApi.StreamLimits;
using Sandbox.SandboxApi.Metrics;
using Sandbox.SandboxApi.Observability;
using OpenTelemetry.Metrics;
using Sandbox.Core;
using Serilog;
using Serilog.Context;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace Sandbox.SandboxApi.Hosting;

/// <summary>Composes sandboxd from its configuration: Kestrel listeners (unix socket with peer credentials, or an
/// inherited systemd socket; optional TCP+TLS; optional HTTP metrics), Serilog, the engine's drivers by tier, the
/// policy engine, the orchestration services and the gRPC services (sandbox.v1, health, reflection).</summary>
public static partial class SandboxdHost
{
    /// <summary>Hooks for tests and embedders: replace services (e.g. <see cref="IPrincipalResolver"/>) after the
    /// defaults are registered.</summary>
    public sealed record Overrides
    {
        public Action<IServiceCollection>? ConfigureServices { get; init; }
        /// <summary>Take a listening socket from systemd (LISTEN_FDS) when present. Default true.</summary>
        public bool AllowSocketActivation { get; init; } = true;
    }

    private const string OutputTemplate = "[{Timestamp:HH:mm:ss.fff} {Level:u3}] [{RequestId}] {SourceContext}: {Message:lj}{NewLine}{Exception}";

    public static WebApplication Build(SandboxdConfig config, Overrides? overrides = null)
    {
        overrides ??= new Overrides();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSerilog(lc =>
        {
            lc.MinimumLevel.Is(Enum.Parse<LogEventLevel>(config.Log.Level, ignoreCase: true))
                .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
                .MinimumLevel.Override("Grpc", LogEventLevel.Warning)
                .Enrich.FromLogContext()
                .Enrich.WithProperty("RequestId", "-")
                .WriteTo.Console(outputTemplate: OutputTemplate);
            if (config.Log.JsonFile is { } file)
                lc.WriteTo.File(new CompactJsonFormatter(), file);
        });

        var peers = new PeerCredentialTable();
        var activated = overrides.AllowSocketActivation ? SystemdSocket.TryGetListenFd() : null;
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.Http2.MaxStreamsPerConnection = 1000;
            void Unix(ListenOptions lo)
            {
                lo.Protocols = HttpProtocols.Http2;
                lo.Use(next => async connection =>
                {
                    if (connection.Features.Get<IConnectionSocketFeature>()?.Socket is { } socket && PeerCredentials.Read(socket) is { } cred)
                        peers.Add(connection.ConnectionId, cred);
                    try
                    {
                        await next(connection).ConfigureAwait(false);
                    }
                    finally
                    {
                        peers.Remove(connection.ConnectionId);
                    }
                });
            }
            if (activated is { } fd)
            {
                k.ListenHandle((ulong)fd, Unix);
            }
            else
            {
                PrepareSocketPath(config.Listen.UnixPath);
                k.ListenUnixSocket(config.Listen.UnixPath, Unix);
            }
            if (config.Listen.Tcp is { } tcp)
            {
                var cert = X509Certificate2.CreateFromPemFile(config.Listen.TlsCertificate!, config.Listen.TlsKey!);
                var clients = config.Listen.TlsClientCa is { } ca ? new ClientCertificateTrust(ca) : null;
                k.Listen(IPEndPoint.Parse(tcp), lo =>
                {
                    lo.Protocols = HttpProtocols.Http2;
                    lo.UseHttps(https =>
                    {
                        https.ServerCertificate = cert;
                        if (clients is not null)
                        {
                            // mTLS: no certificate chaining to listen.tls_client_ca, no connection.
                            https.ClientCertificateMode = Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.RequireCertificate;
                            https.ClientCertificateValidation = clients.Validate;
                        }
                    });
                });
            }
            if (config.Listen.Metrics is { } metrics)
                k.Listen(IPEndPoint.Parse(metrics), lo => lo.Protocols = HttpProtocols.Http1);
        });

        // The agent's directory: the configured one, else $SANDBOX_AGENT_DIR, else the engine's search path (the engine
        // itself reads no environment).
        var agentDirectory = config.Container.AgentDir
            ?? (Environment.GetEnvironmentVariable(AgentBundle.EnvironmentVariable) is { Length: > 0 } fromEnvironment ? fromEnvironment : null);
        var s = builder.Services;
        s.AddSingleton(config);
        s.AddSingleton(peers);
        s.TryAddSingleton(TimeProvider.System);
        s.AddSingleton<IPrincipalResolver, ConfiguredPrincipalResolver>();
        s.AddKeyedSingleton<ISandboxDriver>(SandboxTier.Container, (_, _) => new BubblewrapDriver(new BubblewrapOptions
        {
            AgentDirectory = agentDirectory,
            CgroupParent = config.Container.CgroupParent,
            UidRangeBase = config.Container.UidRangeBase,
            UidRangeCount = config.Container.UidRangeCount,
            // Agent sockets of long-lived sandboxes, through which a restarted sandboxd re-attaches (root only).
            ChannelDirectory = Path.Combine(config.StateDir, "channels"),
        }));
        s.AddKeyedSingleton<ISandboxDriver>(SandboxTier.MicroVm, (sp, _) => new MicroVmDriver(config.ToMicroVmOptions(agentDirectory),
            logger: sp.GetRequiredService<ILogger<MicroVmDriver>>()));
        s.AddSingleton(CreatePolicyEngine);
        s.AddSingleton<SandboxdMetrics>();
        s.AddSingleton<CreateRequestLedger>();
        s.AddSingleton<TenantStreamLimiter>();
        s.AddSingleton(CreateCore);
        s.AddSingleton(sp => sp.GetRequiredService<SandboxCore>().Sandboxes);
        s.AddSingleton(sp => sp.GetRequiredService<SandboxCore>().Registry);
        s.AddSingleton(sp => sp.GetRequiredService<SandboxCore>().Events);
        s.AddSingleton<RestartSignal>();
        s.AddHostedService(sp => sp.GetRequiredService<RestartSignal>());
        s.AddHostedService<RecoveryService>();
        s.AddHostedService<PoolService>();
        s.AddHostedService<ReaperService>();
        s.AddHostedService<EventMetricsService>();
        s.AddSingleton<HealthServiceImpl>();
        // systemd: READY=1 once listening (Type=notify), STOPPING=1 on shutdown; a no-op elsewhere.
        s.AddSystemd();
        s.AddSingleton<CallMetrics>();
        s.AddSingleton<SandboxUsageMetrics>();
        // Metrics through OpenTelemetry's Prometheus exporter: per-call instruments, per-sandbox usage (created when the
        // app is built), the runtime's own (System.Runtime: GC, thread pool, exceptions) and
        // Kestrel's connections.
        s.AddOpenTelemetry().WithMetrics(m => m
            .AddMeter(CallMetrics.MeterName, "System.Runtime", "Microsoft.AspNetCore.Server.Kestrel")
            // No response cache: a deleted sandbox's usage series are gone from the very next scrape.
            .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0));
        s.AddGrpc(o =>
        {
            // Order matters: the access log sees the status ErrorInterceptor produced; Auth runs innermost.
            o.Interceptors.Add<AccessLogInterceptor>();
            o.Interceptors.Add<ErrorInterceptor>();
            o.Interceptors.Add<AuthInterceptor>();
            o.MaxReceiveMessageSize = StreamCost.MaxReceiveMessageBytes;
            o.EnableDetailedErrors = false;
        });
        // Reflection from the descriptor set with source info (proto comments: units, semantics), registered before
        // AddGrpcReflection, whose own registration (generated descriptors, no comments) then stays unused.
        s.AddSingleton(_ => new Grpc.Reflection.ReflectionServiceImpl(
            SandboxDescriptors.Files.SelectMany(f => f.Services).Concat([Health.Descriptor, Grpc.Reflection.V1Alpha.ServerReflection.Descriptor])));
        s.AddGrpcReflection();
        overrides.ConfigureServices?.Invoke(s);

        var app = builder.Build();
        // Its observable instruments exist once it does; the exporter reads them at each scrape.
        app.Services.GetRequiredService<SandboxUsageMetrics>();
        app.Use(async (context, next) =>
        {
            var id = context.Request.Headers["x-request-id"].FirstOrDefault() is { Length: > 0 and <= 64 } given && given.All(char.IsAsciiLetterOrDigit)
                ? given
                : Convert.ToHexStringLower(Guid.NewGuid().ToByteArray(), 0, 6);
            context.Response.Headers["x-request-id"] = id;
            using (LogContext.PushProperty("RequestId", id))
                await next(context).ConfigureAwait(false);
        });
        app.MapGrpcService<SandboxesService>();
        app.MapGrpcService<HealthServiceImpl>();
        app.MapGrpcReflectionService();
        if (config.Listen.Metrics is { } m)
        {
            app.MapGet("/metrics", (SandboxdMetrics metrics, SandboxRegistry registry) => Results.Text(metrics.Render(registry), "text/plain; version=0.0.4"))
                .RequireHost($"*:{IPEndPoint.Parse(m).Port}");
            // The OpenTelemetry instruments (per-call counts and latencies by method, code and tenant; runtime).
            app.MapPrometheusScrapingEndpoint("/metrics/otel").RequireHost($"*:{IPEndPoint.Parse(m).Port}");
        }

        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        lifetime.ApplicationStarted.Register(() =>
        {
            if (activated is null)
                SecureSocket(config.Listen);
            var health = app.Services.GetRequiredService<HealthServiceImpl>();
            health.SetStatus("", HealthCheckResponse.Types.ServingStatus.Serving);
            health.SetStatus(Sandbox.Api.V1.Sandboxes.Descriptor.FullName, HealthCheckResponse.Types.ServingStatus.Serving);
            Startup.Listening(app.Services.GetRequiredService<ILogger<SandboxdConfig>>(), Listening(config, activated));
        });
        return app;
    }

    /// <summary>Core over this host's drivers (each tier's registration, when present), the policy engine and the
    /// configuration. Every driver's probe (the microVM one boots a guest under KVM where KVM looks usable) starts
    /// now, in the background.</summary>
    private static SandboxCore CreateCore(IServiceProvider sp) =>
        SandboxCore.Create(sp.GetRequiredService<SandboxdConfig>().ToCoreOptions(), sp.GetRequiredService<IPolicyEngine>(),
            Enum.GetValues<SandboxTier>().Select(t => sp.GetKeyedService<ISandboxDriver>(t)).OfType<ISandboxDriver>(),
            sp.GetRequiredService<ILoggerFactory>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<SandboxdMetrics>());

    private static IPolicyEngine CreatePolicyEngine(IServiceProvider sp)
    {
        var config = sp.GetRequiredService<SandboxdConfig>();
        var ceilings = config.Policy.Ceilings.ToHostCeilings();
        if (config.Policy.OpaUrl is { } url)
            return new RemotePolicyEngine(new OpaClient(url, sp.GetRequiredService<ILogger<OpaClient>>()), ceilings, sp.GetRequiredService<ILogger<RemotePolicyEngine>>());
        var logger = sp.GetRequiredService<ILogger<EmbeddedPolicyEngine>>();
        return config.Policy.Bundle is { } dir
            ? new EmbeddedPolicyEngine(RegoBundle.LoadDirectory(dir).Compile(), ceilings, logger)
            : EmbeddedPolicyEngine.CreateDefault(ceilings, logger);
    }

    /// <summary>What sandboxd listens on, for the start-up log line.</summary>
    private static string Listening(SandboxdConfig config, int? activated)
    {
        var parts = new List<string>
        {
            activated is { } fd
                ? $"unix:{config.Listen.UnixPath} (systemd socket, fd {fd})"
                : $"unix:{config.Listen.UnixPath} (mode {Convert.ToString((int)config.Listen.UnixMode, 8)}{(config.Listen.UnixGroup is { } g ? ", group " + g : "")})",
        };
        if (config.Listen.Tcp is { } tcp)
            parts.Add($"tcp+tls:{tcp}");
        if (config.Listen.Metrics is { } metrics)
            parts.Add($"http:{metrics}/metrics (and /metrics/otel)");
        return string.Join(", ", parts);
    }

    private static partial class Startup
    {
        [LoggerMessage(2100, LogLevel.Information, "sandboxd listening on {Endpoints}")]
        public static partial void Listening(Microsoft.Extensions.Logging.ILogger logger, string endpoints);
    }

    /// <summary>Creates the socket's directory and removes a stale socket file left by a previous run.</summary>
    private static void PrepareSocketPath(string path)
    {
        var dir = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
            UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        if (File.Exists(path))
            File.Delete(path);
    }

    private static void SecureSocket(ListenConfig listen)
    {
        File.SetUnixFileMode(listen.UnixPath, listen.UnixMode);
        if (listen.UnixGroup is { } group)
            UnixGroups.Chown(listen.UnixPath, group);
    }
}
