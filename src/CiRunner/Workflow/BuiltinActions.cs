namespace Sandbox.CiRunner.Workflow;

/// <summary>The actions this runner implements itself (no action code is ever downloaded or run): the repository
/// copied in, artifacts between jobs and out of the run, and a local cache. Any other <c>uses:</c> is an error.</summary>
public static class BuiltinActions
{
    public const string Checkout = "actions/checkout";
    public const string UploadArtifact = "actions/upload-artifact";
    public const string DownloadArtifact = "actions/download-artifact";
    public const string Cache = "actions/cache";

    public static readonly IReadOnlyList<string> Names = [Checkout, UploadArtifact, DownloadArtifact, Cache];

    /// <summary>The action's name without its <c>@version</c>, lower-cased (GitHub's owner/repo are case-insensitive).</summary>
    public static string Normalize(string uses)
    {
        var at = uses.IndexOf('@');
        return (at < 0 ? uses : uses[..at]).Trim().ToLowerInvariant();
    }

    public static bool IsSupported(string uses) => Names.Contains(Normalize(uses));
}
