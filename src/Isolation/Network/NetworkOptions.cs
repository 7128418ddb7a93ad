namespace Sandbox.Isolation.Network;

/// <summary>Where the programs of the egress network live, and its state directory.</summary>
public sealed record NetworkOptions
{
    public string IpPath { get; init; } = "/usr/sbin/ip";
    public string NftPath { get; init; } = "/usr/sbin/nft";
    public string NsenterPath { get; init; } = "/usr/bin/nsenter";
    /// <summary>pasta from Debian's passt package.</summary>
    public string PastaPath { get; init; } = "/usr/bin/pasta";
    /// <summary>passt (Debian's passt): the microVM tier's stack inside the namespace.</summary>
    public string PasstPath { get; init; } = "/usr/bin/passt";
    /// <summary>dnsmasq (Debian's dnsmasq-base).</summary>
    public string DnsmasqPath { get; init; } = "/usr/sbin/dnsmasq";
    /// <summary>tc (iproute2): a CNI pod's microVM tap joined to the pod's interface (<see cref="PodNetworkTap"/>).</summary>
    public string TcPath { get; init; } = "/usr/sbin/tc";

    /// <summary>Root-only directory with one subdirectory per egress sandbox (pid files, dnsmasq's configuration and
    /// the helpers' logs), flock'ed by its owner; never mounted into a sandbox. Default /run/sandbox/net.</summary>
    public string StateDirectory { get; init; } = "/run/sandbox/net";

    /// <summary>Where named network namespaces are bound (iproute2's directory). Default /run/netns.</summary>
    public string NetnsDirectory { get; init; } = "/run/netns";

    /// <summary>Prefix of the network namespaces' names: "{prefix}{sandbox id}".</summary>
    public const string NetnsPrefix = "sandbox-";

    /// <summary>What the programs of this tier need, missing ones first; empty when all are there.</summary>
    public IReadOnlyList<string> Missing() =>
        new[] { IpPath, NftPath, NsenterPath, PastaPath, DnsmasqPath }.Where(p => !File.Exists(p)).ToList();
}
