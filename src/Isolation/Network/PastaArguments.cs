namespace Sandbox.Isolation.Network;

/// <summary>pasta's command line for one sandbox namespace. pasta's defaults are the opposite of what a sandbox needs
/// and are all turned off here: it would forward every port bound inside to the host ("-t auto"), forward the
/// namespace's loopback ports to the host's loopback ("-T auto", "-U auto": a path to the host's own services), and map
/// the gateway address to the host's loopback (turned off unless an allow entry names 127.0.0.1; the filter then
/// limits it to the allowed ports). IPv4 only; the namespace's address, route and gateway are set by pasta itself
/// (--config-net) before it goes to the background, so its parent's exit means "ready".</summary>
public static class PastaArguments
{
    public static IReadOnlyList<string> Build(string pastaPath, string netnsPath, PinnedEgress egress,
        IReadOnlyList<PublishedPort> published, string pidFile, string logFile)
    {
        var argv = new List<string>
        {
            pastaPath,
            "--netns", netnsPath,
            // pasta drops to "nobody" before joining the namespace, which then has no right to (the namespace belongs
            // to the initial user namespace); as root it keeps CAP_SYS_ADMIN and CAP_NET_BIND_SERVICE only, under its
            // own seccomp filter, no_new_privs, in an empty mount namespace of its own.
            "--runas", "0",
            "--ipv4-only",
            "--config-net",
            "--address", SandboxAddresses.Sandbox.ToString(),
            "--netmask", SandboxAddresses.PrefixLength.ToString(),
            "--gateway", SandboxAddresses.Gateway.ToString(),
            "--no-dhcp", "--no-ndp", "--no-dhcpv6", "--no-ra",
            "--udp-ports", "none",
            "--tcp-ns", "none",
            "--udp-ns", "none",
            "--pid", pidFile,
            "--log-file", logFile,
            "--quiet",
        };
        if (!egress.ReachesHostLoopback)
            argv.Add("--no-map-gw");
        if (published.Count == 0)
            argv.AddRange(["--tcp-ports", "none"]);
        foreach (var p in published)
            argv.AddRange(["--tcp-ports", $"127.0.0.1/{p.HostPort}:{p.Port}"]);
        return argv;
    }
}
