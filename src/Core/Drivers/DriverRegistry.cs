using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sandbox.Isolation;

namespace Sandbox.Core;

/// <summary>The isolation drivers of this host, by tier. A tier without a driver, or whose probe fails, is
/// "unavailable here": it is left out of the policy input's environment and a decision for it answers UNAVAILABLE.
/// The accelerator (what microVMs really get: a KVM probe boot can take seconds) is probed once, in the background,
/// from construction; the first policy input waits for it, so the policy never sees "none" on a KVM host.</summary>
public sealed class DriverRegistry
{
    private readonly Dictionary<SandboxTier, ISandboxDriver> _available = [];
    private readonly Dictionary<SandboxTier, string> _unavailable = [];
    private readonly Task<Accelerator> _accelerator;

    /// <param name="acceleratorProbe">The microVM driver's accelerator probe (null = the synchronous probe's answer).</param>
    public DriverRegistry(IEnumerable<ISandboxDriver> drivers, Func<CancellationToken, Task<Accelerator>>? acceleratorProbe = null,
        ILogger<DriverRegistry>? logger = null)
    {
        var given = drivers.ToDictionary(d => d.Tier);
        var staticAccelerator = Accelerator.None;
        foreach (var tier in Enum.GetValues<SandboxTier>())
        {
            if (!given.TryGetValue(tier, out var driver))
            {
                _unavailable[tier] = "no driver for this tier is built into this program";
                continue;
            }
            var probe = driver.Probe();
            if (probe.Available)
            {
                _available[tier] = driver;
                if (probe.Accelerator != Accelerator.None)
                    staticAccelerator = probe.Accelerator;
            }
            else
            {
                _unavailable[tier] = probe.Detail;
            }
        }
        _accelerator = acceleratorProbe is null || !_available.ContainsKey(SandboxTier.MicroVm) || staticAccelerator != Accelerator.None
            ? Task.FromResult(staticAccelerator)
            : ProbeAsync(acceleratorProbe, logger ?? NullLogger<DriverRegistry>.Instance);
    }

    private static async Task<Accelerator> ProbeAsync(Func<CancellationToken, Task<Accelerator>> probe, ILogger logger)
    {
        await Task.Yield();
        try
        {
            return await probe(CancellationToken.None).ConfigureAwait(false);
        }
        catch (SandboxException e)
        {
            // The policy then sees "tcg": a microVM that needs KVM is refused rather than promised.
            CoreLog.AcceleratorProbeFailed(logger, e.Message);
            return Accelerator.Tcg;
        }
    }

    /// <summary>The accelerator microVMs get here (None when the tier is unavailable); waits for the probe.</summary>
    public Task<Accelerator> AcceleratorAsync(CancellationToken cancellationToken) => _accelerator.WaitAsync(cancellationToken);

    public IReadOnlyCollection<SandboxTier> AvailableTiers => _available.Keys;

    public IReadOnlyDictionary<SandboxTier, string> Unavailable => _unavailable;

    /// <summary>Every available driver.</summary>
    public IEnumerable<ISandboxDriver> All => _available.Values;

    public ISandboxDriver Get(SandboxTier tier) =>
        _available.TryGetValue(tier, out var driver)
            ? driver
            : throw new SandboxException(SandboxErrorCode.Unavailable,
                $"the {TierNames.ToPolicy(tier)} tier is not available on this host: {_unavailable.GetValueOrDefault(tier, "unknown tier")}");
}
