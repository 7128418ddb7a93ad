using Microsoft.Extensions.DependencyInjection;
using Sandbox.Isolation;

namespace Sandbox.SandboxApi.Orchestration;

/// <summary>The isolation drivers of this host, by tier (keyed DI registrations). A tier without a registered driver,
/// or whose probe fails, is "unavailable here": it is left out of the policy input's environment and a decision for
/// it answers UNAVAILABLE.</summary>
public sealed class DriverRegistry
{
    private readonly Dictionary<SandboxTier, ISandboxDriver> _available = [];
    private readonly Dictionary<SandboxTier, string> _unavailable = [];

    public DriverRegistry(IServiceProvider services)
    {
        foreach (var tier in Enum.GetValues<SandboxTier>())
        {
            var driver = services.GetKeyedService<ISandboxDriver>(tier);
            if (driver is null)
            {
                _unavailable[tier] = "no driver for this tier is built into sandboxd";
                continue;
            }
            // Synchronous here until start-up probes move to Core; the container probe never blocks.
            var probe = driver.ProbeAsync(CancellationToken.None).GetAwaiter().GetResult();
            if (probe.Available)
            {
                _available[tier] = driver;
                Accelerator = probe.Accelerator == Isolation.Accelerator.None ? Accelerator : probe.Accelerator;
            }
            else
            {
                _unavailable[tier] = probe.Detail;
            }
        }
    }

    /// <summary>The accelerator of the microVM tier when it is available (else None).</summary>
    public Accelerator Accelerator { get; }

    public IReadOnlyCollection<SandboxTier> AvailableTiers => _available.Keys;

    public IReadOnlyDictionary<SandboxTier, string> Unavailable => _unavailable;

    public ISandboxDriver Get(SandboxTier tier) =>
        _available.TryGetValue(tier, out var driver)
            ? driver
            : throw new SandboxException(SandboxErrorCode.Unavailable,
                $"the {TierNames.ToPolicy(tier)} tier is not available on this host: {_unavailable.GetValueOrDefault(tier, "unknown tier")}");
}

public static class TierNames
{
    public static string ToPolicy(SandboxTier tier) => tier switch
    {
        SandboxTier.Container => Sandbox.Policy.IsolationTiers.Container,
        SandboxTier.MicroVm => Sandbox.Policy.IsolationTiers.MicroVm,
        _ => throw new ArgumentOutOfRangeException(nameof(tier), tier, null),
    };

    public static SandboxTier FromPolicy(string name) => name switch
    {
        Sandbox.Policy.IsolationTiers.Container => SandboxTier.Container,
        Sandbox.Policy.IsolationTiers.MicroVm => SandboxTier.MicroVm,
        _ => throw new SandboxException(SandboxErrorCode.Internal, $"the policy chose an unknown tier '{name}'"),
    };
}
