using Sandbox.Policy;

namespace Sandbox.Core.Tests;

/// <summary>A policy engine that answers what the test says, and keeps the inputs it saw.</summary>
internal sealed class FakePolicy(Func<PolicyInput, PolicyDecision> decide) : IPolicyEngine
{
    public List<PolicyInput> Inputs { get; } = [];

    public Task<PolicyDecision> DecideAsync(PolicyInput input, CancellationToken ct)
    {
        Inputs.Add(input);
        return Task.FromResult(decide(input));
    }

    public static PolicyDecision Allow(string tier = IsolationTiers.Container, long memoryMiB = 256, bool requireKvm = false,
        string network = NetworkModes.None) => new()
    {
        Allow = true,
        Isolation = tier,
        Resources = new ResourceLimits(memoryMiB, 1, 64, 128, 60),
        Network = new NetworkPolicy(network, network == NetworkModes.Egress ? ["pypi.org"] : []),
        SyscallProfile = new SyscallProfileRef("default", []),
        Reasons = ["test"],
        DecisionId = "dec-test",
        RequireHardwareVirtualization = requireKvm,
    };
}
