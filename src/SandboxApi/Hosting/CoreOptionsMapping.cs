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
        Pools = config.ToPoolOptions(),
    };

    /// <summary>pools.* → Core's pool shapes: each shape becomes the request whose decision its sandboxes are
    /// launched from, made by its tenant (the first of tenants[] when it names none; no tenant, no pool).</summary>
    public static PoolOptions ToPoolOptions(this SandboxdConfig config) => new()
    {
        MaxRefillPerSecond = config.Pools.MaxRefillPerS,
        RefillConcurrency = config.Pools.RefillConcurrency,
        Ttl = TimeSpan.FromSeconds(config.Pools.TtlS),
        Shapes = [.. config.Pools.EffectiveShapes
            .Where(s => s.Size > 0 && (s.Tenant is not null || config.Tenants.Count > 0))
            .Select(s => new PoolShape(s.Name, s.Size, new Principal(s.Tenant ?? config.Tenants[0].Name, "pool:" + s.Name), new SandboxRequest
            {
                Tier = s.Tier == "microvm" ? Isolation.SandboxTier.MicroVm : Isolation.SandboxTier.Container,
                Image = s.Image,
                Rootfs = s.Rootfs,
                SyscallProfile = s.SyscallProfile,
                Untrusted = !s.Trusted,
                CodeProvenance = s.Trusted ? "tenant" : null,
            }, s.KvmOnly))],
    };

    public static HostCeilings ToHostCeilings(this CeilingsConfig c) =>
        new() { MemoryMiB = c.MemoryMiB, Vcpus = c.Vcpus, Pids = c.Pids, DiskMiB = c.DiskMiB, TimeoutSeconds = c.TimeoutS };
}
