using Sandbox.Policy.Rego;

namespace Sandbox.Policy.Tests;

internal static class TestBundles
{
    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Sandbox.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
        }
    }

    public static string DefaultBundleDir => Path.Combine(RepoRoot, "policies", "sandbox");

    private static readonly Lazy<CompiledPolicy> s_default = new(() => RegoBundle.LoadDefault().Compile());
    public static CompiledPolicy Default => s_default.Value;

    public static PolicyInput Input(string tenant = "acme", bool untrusted = false, string provenance = "tenant", string hint = "auto",
        RequestedResources? resources = null, RequestedNetwork? network = null, string[]? syscalls = null, string accel = "kvm",
        string[]? tiers = null, bool verified = true) =>
        new(new RequestInfo("req-1", DateTimeOffset.UnixEpoch, "create"),
            new SubjectInfo(tenant, "alice", verified),
            new WorkloadInfo("python:3.12", null, provenance, untrusted),
            new RequestedSpec(hint, resources, network, syscalls),
            new EnvironmentInfo(tiers ?? ["container", "microvm"], accel));
}
