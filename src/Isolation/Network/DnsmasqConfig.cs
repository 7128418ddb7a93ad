using System.Text;

namespace Sandbox.Isolation.Network;

/// <summary>dnsmasq's configuration for one sandbox: listen on <see cref="SandboxAddresses.Dns"/> only, no upstream
/// server, no /etc/hosts, no DHCP; answer the pinned names with their pinned addresses and nothing else (any other
/// name gets REFUSED, so a lookup of a name the policy did not grant fails).</summary>
public static class DnsmasqConfig
{
    public static string Build(PinnedEgress egress, string pidFile, string logFile)
    {
        var s = new StringBuilder();
        s.Append("no-resolv\nno-hosts\nno-poll\nbind-interfaces\n");
        s.Append("listen-address=").Append(SandboxAddresses.Dns).Append('\n');
        s.Append("port=53\n");
        s.Append("user=nobody\ngroup=nogroup\n");
        s.Append("pid-file=").Append(pidFile).Append('\n');
        s.Append("log-facility=").Append(logFile).Append('\n');
        foreach (var (name, addresses) in egress.Names.OrderBy(n => n.Key, StringComparer.Ordinal))
        {
            foreach (var address in addresses)
                s.Append("host-record=").Append(name).Append(',').Append(address).Append('\n');
        }
        return s.ToString();
    }
}
