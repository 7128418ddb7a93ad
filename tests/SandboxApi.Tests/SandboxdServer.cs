using Sandbox.Core;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Sandbox.Api;
using Sandbox.Api.V1;
using Sandbox.SandboxApi.Auth;
using Sandbox.SandboxApi.Configuration;
using Sandbox.SandboxApi.Hosting;

namespace Sandbox.SandboxApi.Tests;

/// <summary>A real sandboxd (real engine, policy, bwrap, cgroups) in this process, on a temp unix socket, with its own
/// state dir, cgroup parent and host uid range. Tenants: the peer's real uid (root) is "acme"; tests act as other
/// tenants with the "x-test-tenant" header, which only this test resolver honours.</summary>
public sealed class SandboxdServer : IAsyncDisposable
{
    public const string TenantHeader = "x-test-tenant";

    public string Root { get; }
    public string SocketPath { get; }
    public SandboxdConfig Config { get; }
    public WebApplication App { get; }
    public GrpcChannel Channel { get; }
    public Sandboxes.SandboxesClient Client { get; }

    private SandboxdServer(string root, SandboxdConfig config, WebApplication app)
    {
        Root = root;
        Config = config;
        SocketPath = config.Listen.UnixPath;
        App = app;
        Channel = SandboxdChannel.ForUnixSocket(SocketPath);
        Client = new Sandboxes.SandboxesClient(Channel);
    }

    public static string NewRoot()
    {
        var root = Path.Combine(Path.GetTempPath(), "sandboxd-test-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        return root;
    }

    /// <summary>The test configuration as YAML (also used by the child-process tests).</summary>
    /// <param name="listen">more listen.* keys, each line indented by two spaces.</param>
    /// <param name="pools">the pools section; default none (a test server keeps no warm sandboxes unless it tests them).</param>
    public static string Yaml(string root, string extraTenants = "", string sandboxes = "", string unixMode = "0660", string listen = "",
        string pools = "pools: {shapes: []}")
    {
        // Every test server shares one pool of uid ranges: the range locks keep them apart.
        return $"""
            listen:
              unix_path: {root}/sandboxd.sock
              unix_mode: "{unixMode}"
            {listen}
            tenants:
              - name: acme
                uids: [0]
                max_sandboxes: 1000
                max_memory_mib: 1048576
                max_streams: 1000
                max_inflight_mib: 8192
              - name: ci
                uids: [4242]
                max_sandboxes: 3
              - name: public
            {extraTenants}
            state_dir: {root}/state
            sandboxes:
              reap_interval_ms: 100
            {sandboxes}
            container:
              cgroup_parent: sandboxd-test-{Path.GetFileName(root)}
              uid_range_base: 2013265920
              uid_range_count: 256
            log:
              level: warning
            {pools}
            """;
    }

    /// <param name="services">more registrations (e.g. a fake TimeProvider), after the test's own.</param>
    public static async Task<SandboxdServer> StartAsync(string? yaml = null, string? root = null, Action<IServiceCollection>? services = null)
    {
        root ??= NewRoot();
        var config = ConfigLoader.Parse(yaml ?? Yaml(root), "test");
        var app = SandboxdHost.Build(config, new SandboxdHost.Overrides
        {
            AllowSocketActivation = false,
            ConfigureServices = s =>
            {
                s.AddSingleton<IPrincipalResolver>(sp =>
                    new HeaderPrincipalResolver(ActivatorUtilities.CreateInstance<ConfiguredPrincipalResolver>(sp)));
                services?.Invoke(s);
            },
        });
        await app.StartAsync();
        return new SandboxdServer(root, config, app);
    }

    public static CallOptions As(string tenant, DateTime? deadline = null, CancellationToken cancellationToken = default) =>
        new(new Metadata { { TenantHeader, tenant } }, deadline, cancellationToken);

    /// <summary>Directories left under this server's cgroup parent (on every hierarchy).</summary>
    public IReadOnlyList<string> CgroupLeftovers() =>
        Directory.EnumerateDirectories("/sys/fs/cgroup")
            .Select(h => Path.Combine(h, Config.Container.CgroupParent))
            .Concat([Path.Combine("/sys/fs/cgroup", Config.Container.CgroupParent)])
            .Where(Directory.Exists)
            .SelectMany(Directory.EnumerateDirectories)
            .ToList();

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        RemoveCgroupParents(Config.Container.CgroupParent);
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }

    /// <summary>Removes this test's (empty) cgroup parents, the container tier's and the microVM tier's, on every
    /// hierarchy: each test server has its own, and none may outlive it.</summary>
    public static void RemoveCgroupParents(string parentName)
    {
        foreach (var h in Directory.EnumerateDirectories("/sys/fs/cgroup"))
        {
            foreach (var name in new[] { parentName, parentName + "-vm" })
            {
                var parent = Path.Combine(h, name);
                try { if (Directory.Exists(parent)) Directory.Delete(parent); } catch (IOException) { }
            }
        }
    }

    private sealed class HeaderPrincipalResolver(IPrincipalResolver real) : IPrincipalResolver
    {
        public Principal? Resolve(HttpContext context) =>
            context.Request.Headers[TenantHeader].FirstOrDefault() is { Length: > 0 } tenant
                ? tenant == "nobody" ? null : new Principal(tenant, "test:" + tenant)
                : real.Resolve(context);
    }
}

[CollectionDefinition("sandboxd", DisableParallelization = true)]
public sealed class SandboxdCollection : ICollectionFixture<SharedServer>;

/// <summary>One server shared by the tests that do not need their own configuration.</summary>
public sealed class SharedServer : IAsyncLifetime
{
    public SandboxdServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await SandboxdServer.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();
}
