using Sandbox.Isolation;
using Sandbox.SandboxApi.Configuration;
using Sandbox.SandboxApi.Hosting;

namespace Sandbox.SandboxApi.Tests;

/// <summary>sandboxd's <c>pools:</c> section: defaults, what it maps to in Core, and the errors a bad one gets (every
/// problem in one pass, each naming its key).</summary>
public sealed class PoolConfigTests
{
    private const string Tenants = "tenants:\n  - {name: acme, uids: [0]}\n  - {name: public}\n";

    [Fact]
    public void Without_a_pools_key_a_small_container_pool_of_the_first_tenant_and_a_kvm_only_microvm_pool()
    {
        var options = ConfigLoader.Parse(Tenants).ToPoolOptions();
        Assert.Equal(5, options.MaxRefillPerSecond);
        Assert.Equal(2, options.RefillConcurrency);
        Assert.Equal(TimeSpan.FromMinutes(10), options.Ttl);
        var container = options.Shapes.Single(s => s.Name == "container");
        Assert.Equal(2, container.Size);
        Assert.Equal("acme", container.Principal.Tenant);
        Assert.Equal(SandboxTier.Container, container.Request.Tier);
        Assert.False(container.Request.Untrusted);
        Assert.Equal("tenant", container.Request.CodeProvenance);
        Assert.False(container.KvmOnly);
        var vm = options.Shapes.Single(s => s.Name == "microvm");
        Assert.True(vm.KvmOnly);
        Assert.Equal(SandboxTier.MicroVm, vm.Request.Tier);
    }

    [Fact]
    public void No_tenant_or_an_empty_shape_list_means_no_pools()
    {
        Assert.Empty(ConfigLoader.Parse("log: {level: warning}\n").ToPoolOptions().Shapes);
        Assert.Empty(ConfigLoader.Parse(Tenants + "pools: {shapes: []}\n").ToPoolOptions().Shapes);
    }

    [Fact]
    public void A_configured_shape_becomes_its_tenants_request()
    {
        var options = ConfigLoader.Parse(Tenants + """
            pools:
              max_refill_per_s: 2.5
              refill_concurrency: 0
              ttl_s: 120
              shapes:
                - {name: strict, tier: container, size: 3, tenant: public, trusted: false, syscall_profile: strict, image: "debian:12"}
                - {name: off, tier: container, size: 0}
            """).ToPoolOptions();
        Assert.Equal(2.5, options.MaxRefillPerSecond);
        Assert.Equal(0, options.RefillConcurrency);
        Assert.Equal(TimeSpan.FromSeconds(120), options.Ttl);
        var shape = Assert.Single(options.Shapes);
        Assert.Equal(("strict", 3, "public"), (shape.Name, shape.Size, shape.Principal.Tenant));
        Assert.True(shape.Request.Untrusted);
        Assert.Null(shape.Request.CodeProvenance);
        Assert.Equal("strict", shape.Request.SyscallProfile);
        Assert.Equal("debian:12", shape.Request.Image);
    }

    [Fact]
    public void A_bad_pools_section_is_refused_naming_every_key()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(Tenants + """
            pools:
              max_refill_per_s: 0
              refill_concurrency: 65
              ttl_s: 5
              shapes:
                - {name: a, tier: vm, size: 65, tenant: nobody}
                - {name: a, tier: container, image: "x:1", rootfs: /srv/r, kvm_only: true, trusted: maybe}
                - {name: "B!", tier: microvm, rootfs: relative, syscall_profile: "", colour: red}
            """));
        var all = string.Join("\n", e.Errors);
        Assert.Contains("pools.max_refill_per_s: 0 is out of range (0, 1000]", all);
        Assert.Contains("pools.ttl_s: 5 is out of range [10, 86400]", all);
        Assert.Contains("pools.refill_concurrency: 65 is out of range [0, 64]", all);
        Assert.Contains("pools.shapes[0].tier: 'vm' is not one of container, microvm", all);
        Assert.Contains("pools.shapes[0].size: 65 is out of range [0, 64] (0 = off)", all);
        Assert.Contains("pools.shapes[0].tenant: 'nobody' is not a tenant of tenants[] (acme, public)", all);
        Assert.Contains("pools.shapes[1].name: pool 'a' is defined twice", all);
        Assert.Contains("pools.shapes[1]: set one of image and rootfs, not both", all);
        Assert.Contains("pools.shapes[1].kvm_only: applies to tier microvm only", all);
        Assert.Contains("pools.shapes[1].trusted: expected true or false, got 'maybe'", all);
        Assert.Contains("pools.shapes[2].name: 'B!' must be 1-63 characters of [a-z0-9_-]", all);
        Assert.Contains("pools.shapes[2].rootfs: 'relative' must be an absolute path", all);
        Assert.Contains("pools.shapes[2].syscall_profile: must not be empty", all);
        Assert.Contains("pools.shapes[2].colour: unknown key", all);
    }

    [Fact]
    public void A_shape_without_a_tenant_needs_one_to_be_defined()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse("pools:\n  shapes:\n    - {name: c, tier: container}\n"));
        Assert.Contains("pools.shapes[0].tenant: no tenant is defined (tenants[]), so the pool has nobody's decision to follow", e.Errors);
    }
}
