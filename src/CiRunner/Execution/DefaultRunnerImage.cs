using Sandbox.Isolation.Images;

namespace Sandbox.CiRunner.Execution;

/// <summary>
/// The runner image jobs get when the operator configures none (<c>--runner-image</c>): GitHub's default labels map to
/// <see cref="Name"/>, the Debian image of <c>sandbox image build --debian bookworm</c>, built from this machine's
/// apt mirror on first use (progress reported) and kept by the image store, so later runs reuse it. A workflow then
/// runs on a Debian userland with root inside its sandbox (sudo, apt) as it would on a hosted runner, not on whatever
/// the host happens to have. <c>--runner-image LABEL=host</c> (<see cref="Host"/>) picks this host's own userland,
/// read-only, as uid 1000 (a workflow that needs the host's SDK).
/// </summary>
public static class DefaultRunnerImage
{
    public const string Name = "debian:bookworm";
    public const string Suite = "bookworm";

    /// <summary>The image value that means "no image: the host's userland".</summary>
    public const string Host = "host";

    /// <summary>GitHub's hosted Linux labels and a self-hosted runner's default ones.</summary>
    public static readonly IReadOnlyList<string> Labels = ["ubuntu-latest", "ubuntu-24.04", "ubuntu-22.04", "self-hosted", "linux", "x64"];

    /// <summary>The run's options with the default mapping when none is configured (nothing is built or read).</summary>
    public static RunOptions Apply(RunOptions options) => options.RunnerImages.Count > 0 ? options : options with
    {
        RunnerImages = Labels.ToDictionary(l => l, _ => Name, StringComparer.OrdinalIgnoreCase),
    };

    /// <summary>Whether a job of <paramref name="workflow"/> may run on the default image under
    /// <paramref name="options"/> (a label of it in some runs-on, or a runs-on expression that could name one).</summary>
    public static bool Wanted(Workflow.WorkflowFile workflow, RunOptions options) =>
        options.RunnerImages.Values.Contains(Name, StringComparer.Ordinal)
        && workflow.Jobs.Any(j => j.RunsOn.Any(l => Expressions.TemplateString.HasExpressions(l)
            || (options.RunnerImages.TryGetValue(l, out var image) && image == Name)));

    /// <summary>Builds <see cref="Name"/> into <paramref name="store"/> unless it is there (a build of the same suite,
    /// packages and mirror kept by the store is only named again). True when it built or named it now.</summary>
    public static async Task<bool> EnsureAsync(ImageStore store, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        if (store.Find(Name) is not null)
            return false;
        progress?.Report($"runner image {Name} is not in the image store: building it once from this machine's Debian mirror " +
            $"(sandbox image build --debian {Suite} --name {Name}); later runs reuse it");
        await new DebianImageBuilder(store).BuildAsync(Suite, [], Name, progress, cancellationToken).ConfigureAwait(false);
        return true;
    }
}
