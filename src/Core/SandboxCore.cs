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
        Sandboxes = new SandboxService(policy, drivers, Registry, Store, Quotas, Events, metrics, options, time, loggers.CreateLogger<SandboxService>());
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

    /// <summary>Ends the event stream (after delivering what was published). Sandboxes are not touched: a daemon
    /// deletes them on an orderly shutdown (<see cref="SandboxService.RemoveAllAsync"/>) and re-attaches them after a
    /// crash.</summary>
    public ValueTask DisposeAsync() => Events.DisposeAsync();
}
