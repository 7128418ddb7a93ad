using System.Text;

namespace Sandbox.Isolation.Network;

/// <summary>The nftables ruleset loaded into a sandbox's network namespace: output dropped except loopback (the
/// resolver), replies, and the pinned destinations; input dropped except loopback (published ports arrive spliced
/// through it) and replies. The namespace belongs to the host's initial user namespace, so the sandbox (in a user
/// namespace of its own, no capabilities) can neither read nor change these rules.</summary>
public static class NftRuleset
{
    public const string TableName = "sandbox";

    public static string Build(PinnedEgress egress)
    {
        var s = new StringBuilder();
        s.Append("table inet ").Append(TableName).Append(" {\n");
        s.Append("  chain output {\n");
        s.Append("    type filter hook output priority 0; policy drop;\n");
        s.Append("    oifname \"lo\" accept\n");
        s.Append("    ct state established,related accept\n");
        // The gateway is the host's loopback when mapped: only the allowed ports, and never through a wide CIDR rule
        // below (10.0.0.0/8 or 0.0.0.0/0 must not open every loopback service of the host).
        foreach (var port in egress.HostLoopbackPorts)
            Accept(s, SandboxAddresses.Gateway.ToString(), port);
        s.Append("    ip daddr ").Append(SandboxAddresses.Gateway).Append(" jump refuse\n");
        foreach (var d in egress.Destinations)
            Accept(s, d.Network.PrefixLength == 32 ? d.Network.BaseAddress.ToString() : d.Network.ToString(), d.Port);
        s.Append("    jump refuse\n");
        s.Append("  }\n");
        // Refused at once rather than dropped: a TCP connect fails with ECONNREFUSED, anything else with an ICMP
        // "administratively prohibited", so a denied destination never costs the workload a timeout.
        s.Append("  chain refuse {\n");
        s.Append("    meta l4proto tcp reject with tcp reset\n");
        s.Append("    reject with icmpx type admin-prohibited\n");
        s.Append("  }\n");
        s.Append("  chain input {\n");
        s.Append("    type filter hook input priority 0; policy drop;\n");
        s.Append("    iifname \"lo\" accept\n");
        s.Append("    ct state established,related accept\n");
        s.Append("  }\n");
        s.Append("}\n");
        return s.ToString();
    }

    private static void Accept(StringBuilder s, string target, int? port)
    {
        s.Append("    ip daddr ").Append(target);
        if (port is { } p)
            s.Append(" meta l4proto { tcp, udp } th dport ").Append(p);
        s.Append(" accept\n");
    }
}
