namespace Sandbox.Isolation.Cgroups;

/// <summary>For `sandbox doctor`: creates and removes a cgroup the way a sandbox's is created (controllers enabled
/// level by level, limits written), so "ok" means sandboxes can really get one, and a failure says why (the kernel's
/// reason: a controller not delegated, a namespace root holding processes, no permission).</summary>
public static class CgroupProbe
{
    public sealed record Result(bool Ok, string Detail);

    public static Result Run(CgroupLayout layout, string parentName)
    {
        if (layout.Version == CgroupVersion.None)
            return new(false, layout.Describe());
        var id = SandboxId.New();
        try
        {
            var cgroup = CgroupFactory.Create(layout, parentName, id, new ResourceLimits());
            var where = cgroup.Path;
            var controllers = layout.Version == CgroupVersion.V2
                ? string.Join(" ", V2.SubtreeControllers.Enabled(Path.GetDirectoryName(where)!).Order())
                : string.Join(" ", layout.V1Mounts.Keys.Order());
            var cpu = cgroup.CpuQuotaEnforced
                ? ""
                : "; no cpu controller here: a CPU limit asked for (--cpus) is refused and the policy's default CPU quota is left out";
            cgroup.DisposeAsync().AsTask().GetAwaiter().GetResult();
            return new(true, $"{layout.Describe()}; a probe cgroup under {Path.GetDirectoryName(where)} was created and removed (controllers: {controllers}){cpu}");
        }
        catch (Exception e) when (e is SandboxException or IOException or UnauthorizedAccessException)
        {
            return new(false, $"{layout.Describe()}; cannot create a sandbox cgroup: {e.Message}");
        }
    }
}
