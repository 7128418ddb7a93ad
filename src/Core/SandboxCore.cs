using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sandbox.Isolation;
using Sandbox.Policy;

namespace Sandbox.Core;

/// <summary>Core, composed: every face builds one of these from its drivers, its policy engine and its options, and
/// calls <see cref="Sandboxes"/>. A daemon also runs <see cref="Recovery"/> once at startup and <see cref="Reaper"/>
/// in the background; every face may subscribe to <see cref="Events"/>.</summary>
public sealed class SandboxCore : IAsyncDisposable
{
    private SandboxCore(SandboxCoreOptions options, IPolicyEngine policy, DriverRegistry drivers, ILoggerFactory loggers,
        TimeProvider time, ISandboxMetrics metrics)
    {
        Options = options;
        Drivers = drivers;
        Store = new StateStore(options.StateDirectory);
        Quotas = new TenantQuotas(options);
        Pools = new SandboxPools(options.Pools, time, metrics, loggers.CreateLogger<SandboxPools>());
        Sandboxes = new SandboxService(policy, drivers, Registry, Store, Quotas, Events, metrics, Pools, options, time, loggers.CreateLogger<SandboxService>());
        _poolLogger = loggers.CreateLogger<SandboxPools>();
        Recovery = new RestartRecovery(drivers, Store, Sandboxes, metrics, loggers.CreateLogger<RestartRecovery>());
        Reaper = new TtlReaper(Sandboxes, options, time, loggers.CreateLogger<TtlReaper>());
    }

    /// <summary>Composes Core; every driver's probe starts now, in the background.</summary>
    public static SandboxCore Create(SandboxCoreOptions options, IPolicyEngine policy, IEnumerable<ISandboxDriver> drivers,
        ILoggerFactory? loggers = null, TimeProvider? time = null, ISandboxMetrics? metrics = null)
    {
        loggers ??= NullLoggerFactory.Instance;
        var registry = new DriverRegistry(drivers, loggers.CreateLogger<DriverRegistry>());
        return new SandboxCore(options, policy, registry, loggers, time ?? TimeProvider.System, metrics ?? NoMetrics.Instance);
    }

    public SandboxCoreOptions Options { get; }
    public DriverRegistry Drivers { get; }
    public SandboxRegistry Registry { get; } = new();
    public StateStore Store { get; }
    public TenantQuotas Quotas { get; }
    public SandboxEvents Events { get; } = new();
    public SandboxService Sandboxes { get; }
    public RestartRecovery Recovery { get; }
    public TtlReaper Reaper { get; }
    public SandboxPools Pools { get; }

    private readonly ILogger _poolLogger;

    /// <summary>Starts the warm pools of <see cref="SandboxCoreOptions.Pools"/>: each shape's launch spec comes from the
    /// policy's decision for its request (waits for the drivers' probes); a shape that cannot be pooled here is logged
    /// and left off. Refill then runs in the background until <see cref="DisposeAsync"/>. An owner that re-attaches
    /// sandboxes runs <see cref="Recovery"/> first, so leftovers are gone before pools fill.</summary>
    public async Task StartPoolsAsync(CancellationToken cancellationToken)
    {
        foreach (var shape in Options.Pools.Shapes.Where(s => s.Size > 0))
        {
            var (driver, template, key, why) = await Sandboxes.PoolTemplateAsync(shape, cancellationToken).ConfigureAwait(false);
            if (driver is null || template is null || key is null)
                PoolLog.Off(_poolLogger, shape.Name, why);
            else if (!Pools.TryAdd(shape, driver, template, key))
                PoolLog.Off(_poolLogger, shape.Name, "another pool already has the same shape");
        }
        Pools.Start();
    }

    /// <summary>Destroys the warm pools' sandboxes (they belong to no one) and ends the event stream (after delivering
    /// what was published). Sandboxes are not touched: a daemon deletes them on an orderly shutdown
    /// (<see cref="SandboxService.RemoveAllAsync"/>) and re-attaches them after a crash.</summary>
    public async ValueTask DisposeAsync()
    {
        await Pools.DisposeAsync().ConfigureAwait(false);
        await Events.DisposeAsync().ConfigureAwait(false);
    }
}
