using Sandbox.Core;
using Sandbox.Policy;
using Sandbox.SandboxApi.Configuration;

namespace Sandbox.SandboxApi.Hosting;

/// <summary>sandboxd's YAML configuration → Core's options (Core never sees sandboxd's configuration types).</summary>
public static class CoreOptionsMapping
{
    public static SandboxCoreOptions ToCoreOptions(this SandboxdConfig config) => new()
    {
        StateDirectory = config.StateDir,
        DefaultTtl = TimeSpan.FromSeconds(config.Sandboxes.DefaultTtlS),
        MaxTtl = TimeSpan.FromSeconds(config.Sandboxes.MaxTtlS),
        ReapInterval = TimeSpan.FromMilliseconds(config.Sandboxes.ReapIntervalMs),
        DefaultQuota = new TenantQuota(),
        Quotas = config.Tenants.ToDictionary(t => t.Name, t => new TenantQuota(t.MaxSandboxes, t.MaxMemoryMiB)),
        Ceilings = config.Policy.Ceilings.ToHostCeilings(),
        SandboxesOutliveOwner = true,
        Images = new Isolation.Images.ImageStoreOptions { Root = config.Images.StoreDir },
    };

    public static HostCeilings ToHostCeilings(this CeilingsConfig c) =>
        new() { MemoryMiB = c.MemoryMiB, Vcpus = c.Vcpus, Pids = c.Pids, DiskMiB = c.DiskMiB, TimeoutSeconds = c.TimeoutS };
}
