using Sandbox.Cli.Parsing;
using Sandbox.Isolation.Images;

namespace Sandbox.Cli;

/// <summary>The CLI's image store: $SANDBOX_IMAGE_STORE when set (an absolute directory), else the engine's default
/// (/var/cache/sandbox/images). `sandbox image … --store DIR` overrides it for one command; `run/create --local` resolve
/// `--image` in it. sandboxd has its own key (images.store_dir, docs/sandboxd.md).</summary>
internal static class ImageStoreLocation
{
    public const string EnvironmentVariable = "SANDBOX_IMAGE_STORE";

    public static string Root =>
        Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } dir
            ? Path.IsPathFullyQualified(dir) ? dir : throw new UsageException($"${EnvironmentVariable} '{dir}' must be an absolute directory")
            : new ImageStoreOptions().Root;

    public static ImageStoreOptions Options => new() { Root = Root };
}
