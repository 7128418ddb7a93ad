using System.Net;
using System.Net.Sockets;

namespace Sandbox.Isolation.Network;

/// <summary>One destination the sandbox may reach: an IPv4 network and a port (null = every port), with the allow
/// entry it came from.</summary>
public sealed record PinnedDestination(IPNetwork Network, int? Port, string From)
{
    public override string ToString()
    {
        var target = Network.PrefixLength == 32 ? Network.BaseAddress.ToString() : Network.ToString();
        var where = Port is { } p ? $"{target}:{p}" : target;
        return From == where ? where : $"{From} -> {where}";
    }
}

/// <summary>An allowlist with every host name resolved (by the host, once, at create time) and pinned: the sandbox's
/// resolver answers those names with exactly these addresses, and the filter lets through exactly these destinations.
/// A later change of the name's real addresses does not widen what the sandbox may reach.</summary>
public sealed record PinnedEgress(
    IReadOnlyList<PinnedDestination> Destinations,
    IReadOnlyDictionary<string, IReadOnlyList<IPAddress>> Names,
    IReadOnlyList<int?> HostLoopbackPorts)
{
    /// <summary>True when some entry named the host's loopback (127.0.0.1): the stack maps the gateway to it.</summary>
    public bool ReachesHostLoopback => HostLoopbackPorts.Count > 0;

    /// <summary>What was granted, one line per destination, for <see cref="SandboxInfo.Egress"/>.</summary>
    public IReadOnlyList<string> Describe() =>
    [
        .. Destinations.Select(d => d.ToString()),
        .. HostLoopbackPorts.Select(p => p is { } port
            ? $"127.0.0.1:{port} (host loopback) -> {SandboxAddresses.Gateway}:{port}"
            : $"127.0.0.1 (host loopback) -> {SandboxAddresses.Gateway}"),
    ];

    /// <summary>Resolves the name rules with <paramref name="resolve"/> (the host's resolver unless a test gives its
    /// own). A name without an IPv4 address is FailedPrecondition; one that resolves into 127.0.0.0/8 is refused
    /// (InvalidArgument): the sandbox's own loopback is not the host's, and 127.0.0.1 must be asked for by address.</summary>
    public static async Task<PinnedEgress> ResolveAsync(IReadOnlyList<EgressRule> rules,
        Func<string, CancellationToken, Task<IPAddress[]>>? resolve, CancellationToken cancellationToken)
    {
        resolve ??= (name, ct) => Dns.GetHostAddressesAsync(name, AddressFamily.InterNetwork, ct);
        var destinations = new List<PinnedDestination>();
        var names = new Dictionary<string, IReadOnlyList<IPAddress>>(StringComparer.Ordinal);
        var loopback = new List<int?>();
        foreach (var rule in rules)
        {
            if (rule.IsHostLoopback)
            {
                loopback.Add(rule.Port);
                continue;
            }
            if (rule.Network is { } network)
            {
                destinations.Add(new PinnedDestination(network, rule.Port, rule.ToString()));
                continue;
            }
            var name = rule.HostName!;
            if (!names.TryGetValue(name, out var addresses))
            {
                addresses = await ResolveNameAsync(name, resolve, cancellationToken).ConfigureAwait(false);
                names[name] = addresses;
            }
            foreach (var address in addresses)
                destinations.Add(new PinnedDestination(new IPNetwork(address, 32), rule.Port, rule.ToString()));
        }
        return new PinnedEgress(destinations, names, loopback);
    }

    private static async Task<IReadOnlyList<IPAddress>> ResolveNameAsync(string name,
        Func<string, CancellationToken, Task<IPAddress[]>> resolve, CancellationToken cancellationToken)
    {
        IPAddress[] found;
        try
        {
            found = await resolve(name, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            throw new SandboxException(SandboxErrorCode.FailedPrecondition,
                $"egress host '{name}' cannot be resolved by this host ({e.SocketErrorCode}): nothing to pin it to", e);
        }
        var ipv4 = found.Where(a => a.AddressFamily == AddressFamily.InterNetwork).Distinct().Order(AddressOrder.Instance).ToList();
        if (ipv4.Count == 0)
            throw new SandboxException(SandboxErrorCode.FailedPrecondition,
                $"egress host '{name}' has no IPv4 address (the sandbox network is IPv4 only)");
        if (ipv4.FirstOrDefault(a => a.GetAddressBytes()[0] == 127) is { } local)
            throw new SandboxException(SandboxErrorCode.InvalidArgument,
                $"egress host '{name}' resolves to {local}, a loopback address; allow 127.0.0.1[:PORT] to reach the host's loopback");
        return ipv4;
    }

    private sealed class AddressOrder : IComparer<IPAddress>
    {
        public static readonly AddressOrder Instance = new();

        public int Compare(IPAddress? x, IPAddress? y) =>
            x!.GetAddressBytes().AsSpan().SequenceCompareTo(y!.GetAddressBytes());
    }
}
