namespace Sandbox.Isolation.Network;

/// <summary>
/// Caps TCP's send buffer in a sandbox's network namespace (net.ipv4.tcp_wmem is per namespace; its max bounds the
/// data a socket keeps in flight). Debian 12's pasta (and passt) keep no buffer of their own: a segment they cannot
/// write to their host socket at once is dropped and left to the sender's retransmission. A sender with the default
/// autotuned window (megabytes, 64 KiB segments over the 65520-byte link) overruns pasta whenever pasta is off the
/// CPU for a moment (a loaded host), and its recovery then falls back to retransmission timeouts: 200 ms each, one
/// window per timeout, which is the 0.01–0.05 Gbit/s that iperf3 showed through pasta where a capped window (iperf3
/// -w 64K..512K) kept 2.5–3.7 Gbit/s on the same host (docs/network.md, Throughput).
/// </summary>
internal static class NamespaceTcpSendBuffer
{
    public const int MaxBytes = 256 * 1024;

    /// <summary>The value written: min, default and max in bytes (Linux's min and default).</summary>
    public static string Value => $"4096 16384 {MaxBytes}";

    /// <summary>Writes the cap from inside the namespace (/proc/sys/net is the opening thread's network namespace).</summary>
    public static void Apply(string netnsPath) =>
        NetworkNamespaceThread.Run(netnsPath, "capping TCP's send buffer", () =>
        {
            File.WriteAllText("/proc/sys/net/ipv4/tcp_wmem", Value);
            return true;
        });
}
