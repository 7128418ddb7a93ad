using Sandbox.Isolation;
using Sandbox.Isolation.Container;

namespace Sandbox.Core;

/// <summary>Re-attach for the one tier that offers it today (containers), through its driver's own record type. This is
/// the only place Core names a driver class; it goes away when ISandboxDriver carries an opaque attachment.</summary>
internal static class ContainerReattach
{
    public static async Task<ISandbox?> AttachAsync(DriverRegistry drivers, SandboxId id, SandboxRecord record, CancellationToken cancellationToken)
    {
        if (record.Tier != TierNames.ToPolicy(SandboxTier.Container) || record.Container is null
            || drivers.Get(SandboxTier.Container) is not BubblewrapDriver driver)
            return null;
        return await driver.AttachAsync(id, record.Container, cancellationToken).ConfigureAwait(false);
    }

    public static void RemoveStaleChannels(DriverRegistry drivers, IReadOnlySet<SandboxId> keep)
    {
        if (drivers.AvailableTiers.Contains(SandboxTier.Container) && drivers.Get(SandboxTier.Container) is BubblewrapDriver driver)
            driver.RemoveStaleChannels(keep);
    }
}
