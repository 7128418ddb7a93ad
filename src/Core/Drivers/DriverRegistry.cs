using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sandbox.Isolation;

namespace Sandbox.Core;

/// <summary>The isolation drivers of this host, by tier. Every driver is probed once, in the background, from
/// construction (a microVM probe may boot a guest under KVM to prove the accelerator works: seconds). A tier whose
/// probe fails is "unavailable here": it is left out of the policy input's environment and a decision for it answers
/// UNAVAILABLE. Verbs wait for the probes (<see cref="ProbedAsync"/>), so the policy never sees "none" on a KVM host
/// because it asked too early.</summary>
public sealed class DriverRegistry
{
    private readonly IReadOnlyList<ISandboxDriver> _drivers;
    private readonly Task<ProbedDrivers> _probed;

    public DriverRegistry(IEnumerable<ISandboxDriver> drivers, ILogger<DriverRegistry>? logger = null)
    {
        _drivers = [.. drivers];
        var duplicate = _drivers.GroupBy(d => d.Tier).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new ArgumentException($"two drivers for the {TierNames.ToPolicy(duplicate.Key)} tier", nameof(drivers));
        _probed = ProbeAllAsync(_drivers, logger ?? NullLogger<DriverRegistry>.Instance);
    }

    /// <summary>Every driver given, available here or not (restart recovery reclaims leftovers of all of them).</summary>
    public IReadOnlyList<ISandboxDriver> Registered => _drivers;

    /// <summary>The probes' verdicts; waits for them.</summary>
    public Task<ProbedDrivers> ProbedAsync(CancellationToken cancellationToken) => _probed.WaitAsync(cancellationToken);

    private static async Task<ProbedDrivers> ProbeAllAsync(IReadOnlyList<ISandboxDriver> drivers, ILogger logger)
    {
        await Task.Yield();
        var verdicts = await Task.WhenAll(drivers.Select(d => ProbeOneAsync(d, logger))).ConfigureAwait(false);
        var available = new Dictionary<SandboxTier, ISandboxDriver>();
        var unavailable = new Dictionary<SandboxTier, string>();
        var accelerator = Accelerator.None;
        foreach (var tier in Enum.GetValues<SandboxTier>())
            unavailable[tier] = "no driver for this tier is built into this program";
        foreach (var (driver, probe) in drivers.Zip(verdicts))
        {
            if (probe.Available)
            {
                unavailable.Remove(driver.Tier);
                available[driver.Tier] = driver;
                if (probe.Accelerator != Accelerator.None)
                    accelerator = probe.Accelerator;
            }
            else
            {
                unavailable[driver.Tier] = probe.Detail;
            }
        }
        return new ProbedDrivers(available, unavailable, accelerator);
    }

    private static async Task<DriverAvailability> ProbeOneAsync(ISandboxDriver driver, ILogger logger)
    {
        try
        {
            return await driver.ProbeAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (SandboxException e)
        {
            CoreLog.ProbeFailed(logger, TierNames.ToPolicy(driver.Tier), e.Message);
            return new DriverAvailability(false, $"probe failed: {e.Message}");
        }
    }
}

/// <summary>What the probes found: the drivers that can run here, why the others cannot, and the accelerator
/// microVMs get (None when that tier is unavailable).</summary>
public sealed class ProbedDrivers(IReadOnlyDictionary<SandboxTier, ISandboxDriver> available, IReadOnlyDictionary<SandboxTier, string> unavailable,
    Accelerator accelerator)
{
    public Accelerator Accelerator => accelerator;

    public IReadOnlyCollection<SandboxTier> AvailableTiers => [.. available.Keys];

    public IReadOnlyDictionary<SandboxTier, string> Unavailable => unavailable;

    public bool IsAvailable(SandboxTier tier) => available.ContainsKey(tier);

    public ISandboxDriver Get(SandboxTier tier) =>
        available.TryGetValue(tier, out var driver)
            ? driver
            : throw new TierUnavailableException(tier,
                $"the {TierNames.ToPolicy(tier)} tier is not available on this host: {unavailable.GetValueOrDefault(tier, "unknown tier")}");
}
