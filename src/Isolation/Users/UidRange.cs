namespace Sandbox.Isolation.Users;

/// <summary>The host ids of one sandbox: [<see cref="HostBase"/>, <see cref="HostBase"/> + <see cref="Size"/>), seen
/// inside its user namespace as [0, <see cref="Size"/>). Uids and gids share the numbers. Never host uid 0: ranges are
/// taken from <c>BubblewrapOptions.UidRangeBase</c> upwards, far from real accounts.</summary>
public readonly record struct UidRange(int HostBase, int Size)
{
    /// <summary>The host id of <paramref name="inside"/>.</summary>
    public int ToHost(int inside) => inside >= 0 && inside < Size
        ? HostBase + inside
        : throw new ArgumentOutOfRangeException(nameof(inside), $"id {inside} is outside the sandbox's range [0, {Size})");

    public bool ContainsHost(long hostId) => hostId >= HostBase && hostId < (long)HostBase + Size;

    /// <summary>The one line written to uid_map and gid_map: inside 0 → host base, Size ids.</summary>
    public string MapLine => $"0 {HostBase} {Size}\n";

    public override string ToString() => $"[{HostBase}, {(long)HostBase + Size})";
}
