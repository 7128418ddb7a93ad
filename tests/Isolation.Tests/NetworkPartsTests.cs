using System.Net;
using Sandbox.Isolation.Network;

namespace Sandbox.Isolation.Tests;

/// <summary>The pure parts of network mode egress: allow entries and published ports as the user writes them, name
/// pinning, and what pasta, nftables and dnsmasq are told.</summary>
public sealed class NetworkPartsTests
{
    [Theory]
    [InlineData("Deb.Example.org", "deb.example.org", null, null)]
    [InlineData("deb.example.org:443", "deb.example.org", null, 443)]
    [InlineData("10.1.2.3", null, "10.1.2.3/32", null)]
    [InlineData("10.1.0.0/16:5432", null, "10.1.0.0/16", 5432)]
    [InlineData("127.0.0.1:8080", null, "127.0.0.1/32", 8080)]
    public void Allow_entries_parse(string text, string? host, string? network, int? port)
    {
        var rule = EgressRule.Parse(text);
        Assert.Equal(host, rule.HostName);
        Assert.Equal(network, rule.Network?.ToString());
        Assert.Equal(port, rule.Port);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("host:0", "port '0'")]
    [InlineData("host:70000", "port '70000'")]
    [InlineData("10.1.2.3/16", "host bits zero")]
    [InlineData("300.1.2.3", "not an IPv4 address")]
    [InlineData("::1", "IPv6")]
    [InlineData("[::1]:80", "IPv6")]
    [InlineData("bad_host", "not a host name")]
    [InlineData("-bad.example", "not a host name")]
    [InlineData("127.0.0.53:53", "only 127.0.0.1")]
    public void Bad_allow_entries_are_refused_naming_the_entry(string text, string why)
    {
        var e = Assert.Throws<SandboxException>(() => EgressRule.Parse(text));
        Assert.Equal(SandboxErrorCode.InvalidArgument, e.Code);
        Assert.Contains($"'{text}'", e.Message, StringComparison.Ordinal);
        Assert.Contains(why, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("8080:80", 8080, 80)]
    [InlineData("9000", 9000, 9000)]
    public void Published_ports_parse(string text, int host, int inside) =>
        Assert.Equal(new PublishedPort(host, inside), PublishedPort.Parse(text));

    [Theory]
    [InlineData("0:80")]
    [InlineData("80:")]
    [InlineData("1:2:3")]
    [InlineData("x:80")]
    public void Bad_published_ports_are_refused(string text) =>
        Assert.Equal(SandboxErrorCode.InvalidArgument, Assert.Throws<SandboxException>(() => PublishedPort.Parse(text)).Code);

    private static Task<IPAddress[]> FakeDns(string name, CancellationToken _) => Task.FromResult(name switch
    {
        "two.example" => new[] { IPAddress.Parse("192.0.2.20"), IPAddress.Parse("192.0.2.10") },
        "local.example" => [IPAddress.Parse("127.0.1.1")],
        "v6.example" => [IPAddress.Parse("2001:db8::1")],
        _ => throw new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.HostNotFound),
    });

    [Fact]
    public async Task Names_are_pinned_to_every_IPv4_address_they_had()
    {
        var pinned = await PinnedEgress.ResolveAsync([EgressRule.Parse("two.example:443"), EgressRule.Parse("127.0.0.1:8080")], FakeDns, CancellationToken.None);
        Assert.Equal(["192.0.2.10", "192.0.2.20"], pinned.Names["two.example"].Select(a => a.ToString()));
        Assert.Equal(["192.0.2.10/32", "192.0.2.20/32"], pinned.Destinations.Select(d => d.Network.ToString()));
        Assert.All(pinned.Destinations, d => Assert.Equal(443, d.Port));
        Assert.Equal([8080], pinned.HostLoopbackPorts.Select(p => p!.Value));
        Assert.Contains("two.example:443 -> 192.0.2.10:443", pinned.Describe());
    }

    [Theory]
    [InlineData("nowhere.example", SandboxErrorCode.FailedPrecondition)]
    [InlineData("v6.example", SandboxErrorCode.FailedPrecondition)]
    [InlineData("local.example", SandboxErrorCode.InvalidArgument)]
    public async Task Names_that_cannot_be_pinned_are_refused(string name, SandboxErrorCode code)
    {
        var e = await Assert.ThrowsAsync<SandboxException>(() => PinnedEgress.ResolveAsync([EgressRule.Parse(name)], FakeDns, CancellationToken.None));
        Assert.Equal(code, e.Code);
        Assert.Contains(name, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_ruleset_refuses_the_gateway_before_any_wide_rule()
    {
        var pinned = await PinnedEgress.ResolveAsync([EgressRule.Parse("127.0.0.1:8080"), EgressRule.Parse("0.0.0.0/0")], FakeDns, CancellationToken.None);
        var rules = NftRuleset.Build(pinned).Split('\n').Select(l => l.Trim()).ToList();
        var loopback = rules.IndexOf("ip daddr 10.0.2.2 meta l4proto { tcp, udp } th dport 8080 accept");
        var refuseGateway = rules.IndexOf("ip daddr 10.0.2.2 jump refuse");
        var wide = rules.IndexOf("ip daddr 0.0.0.0/0 accept");
        Assert.True(loopback >= 0 && loopback < refuseGateway && refuseGateway < wide, string.Join('\n', rules));
        Assert.Contains("type filter hook output priority 0; policy drop;", rules);
        Assert.Contains("type filter hook input priority 0; policy drop;", rules);
    }

    [Fact]
    public async Task Pasta_keeps_every_path_to_the_hosts_own_services_closed_unless_asked()
    {
        var none = await PinnedEgress.ResolveAsync([EgressRule.Parse("192.0.2.1:80")], FakeDns, CancellationToken.None);
        var argv = PastaArguments.Build("pasta", "/run/netns/x", none, [], "/p", "/l");
        Assert.Contains("--no-map-gw", argv);
        Assert.Equal("none", argv[argv.ToList().IndexOf("--tcp-ns") + 1]);
        Assert.Equal("none", argv[argv.ToList().IndexOf("--udp-ns") + 1]);
        Assert.Equal("none", argv[argv.ToList().IndexOf("--tcp-ports") + 1]);
        Assert.Equal("none", argv[argv.ToList().IndexOf("--udp-ports") + 1]);

        var loopback = await PinnedEgress.ResolveAsync([EgressRule.Parse("127.0.0.1:8080")], FakeDns, CancellationToken.None);
        var published = PastaArguments.Build("pasta", "/run/netns/x", loopback, [new PublishedPort(18080, 80)], "/p", "/l");
        Assert.DoesNotContain("--no-map-gw", published);
        Assert.Equal("127.0.0.1/18080:80", published[published.ToList().IndexOf("--tcp-ports") + 1]);
    }

    [Fact]
    public async Task Dnsmasq_answers_only_the_pinned_names()
    {
        var pinned = await PinnedEgress.ResolveAsync([EgressRule.Parse("two.example")], FakeDns, CancellationToken.None);
        var conf = DnsmasqConfig.Build(pinned, "/p", "/l").Split('\n');
        Assert.Contains("no-resolv", conf);
        Assert.Contains("no-hosts", conf);
        Assert.Contains("listen-address=169.254.0.53", conf);
        Assert.Equal(["host-record=two.example,192.0.2.10", "host-record=two.example,192.0.2.20"], conf.Where(l => l.StartsWith("host-record=")));
        Assert.DoesNotContain(conf, l => l.StartsWith("server="));
    }
}
