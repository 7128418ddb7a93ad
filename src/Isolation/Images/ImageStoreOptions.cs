namespace Sandbox.Isolation.Images;

public sealed record ImageStoreOptions
{
    /// <summary>The store's directory (mode 0700: only root reads the unpacked roots; sandboxes see them through
    /// the overlay the engine mounts). Default /var/cache/sandbox/images.</summary>
    public string Root { get; init; } = "/var/cache/sandbox/images";

    public ImageLimits Limits { get; init; } = ImageLimits.Default;
}
