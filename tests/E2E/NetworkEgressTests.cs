using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text;
using Sandbox.Isolation;
using Sandbox.Isolation.Container;
using Sandbox.Isolation.Network;

namespace Sandbox.E2E;

/// <summary>Network mode egress on both tiers, against servers this test starts on the host: the allowed
/// destinations are reachable and nothing else is (other ports, the host's loopback unless allowed, the outside), the
/// resolver answers allowed names only, a published port reaches a server inside, and nothing of the network (pasta,
/// dnsmasq, the namespace, its state directory) outlives the sandbox or a failed start. A refused destination is
/// "denied" on both tiers: the container sees the filter's reset at once (ECONNREFUSED), the microVM guest a timeout
/// (passt does not pass the refusal of its own connect on to the guest).</summary>
[Collection(SerialCollection.Name)]
public sealed class NetworkEgressTests : IAsyncLifetime, IDisposable
{
    private readonly TcpListener _loopbackAllowed = new(IPAddress.Loopback, 0);
    private readonly TcpListener _loopbackDenied = new(IPAddress.Loopback, 0);
    private TcpListener? _hostAllowed;
    private TcpListener? _hostDenied;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _servers = [];

    private static int Port(TcpListener l) => ((IPEndPoint)l.LocalEndpoint).Port;

    public Task InitializeAsync()
    {
        foreach (var l in new[] { _loopbackAllowed, _loopbackDenied })
            Serve(l);
        if (EgressFactAttribute.HostAddress() is { } address)
        {
            _hostAllowed = new TcpListener(address, 0);
            _hostDenied = new TcpListener(address, 0);
            Serve(_hostAllowed);
            Serve(_hostDenied);
        }
        return Task.CompletedTask;
    }

    /// <summary>Answers every connection with "hello\n" and closes it.</summary>
    private void Serve(TcpListener listener)
    {
        listener.Start();
        _servers.Add(Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                using var client = await listener.AcceptTcpClientAsync(_stop.Token);
                await client.GetStream().WriteAsync("hello\n"u8.ToArray(), _stop.Token);
            }
        }));
    }

    public async Task DisposeAsync()
    {
        _stop.Cancel();
        foreach (var l in new[] { _loopbackAllowed, _loopbackDenied, _hostAllowed, _hostDenied })
            l?.Stop();
        try { await Task.WhenAll(_servers); }
        catch (OperationCanceledException) { }
        catch (SocketException) { }
    }

    public void Dispose()
    {
        foreach (var l in new[] { _loopbackAllowed, _loopbackDenied, _hostAllowed, _hostDenied })
            l?.Dispose();
        _stop.Dispose();
    }

    /// <summary>Connects to each HOST:PORT argument and prints "HOST:PORT ok" (the server's greeting read) or the
    /// error's name; a refusal or a silent drop shows as "denied".</summary>
    private const string Probe = """
        import socket, sys, errno
        for target in sys.argv[1:]:
            host, port = target.rsplit(':', 1)
            try:
                s = socket.create_connection((host, int(port)), timeout=3)
                data = s.recv(16)
                print(target, 'ok' if data == b'hello\n' else 'answer:%r' % data)
            except socket.timeout:
                print(target, 'denied')
            except OSError as e:
                print(target, 'denied' if e.errno == errno.ECONNREFUSED else errno.errorcode.get(e.errno, str(e)))
        """;

    private static ProcessSpec ProbeProcess(params string[] targets) =>
        new() { Argv = ["/usr/bin/python3", "-c", Probe, .. targets] };

    private static Dictionary<string, string> Parse(string stdout) =>
        stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ', 2)).ToDictionary(p => p[0], p => p[1]);

    private static SandboxSpec Egress(IEnumerable<string> allow, IEnumerable<string>? publish = null) => new()
    {
        Network = NetworkMode.Egress,
        EgressAllow = [.. allow.Select(EgressRule.Parse)],
        PublishedPorts = [.. (publish ?? []).Select(PublishedPort.Parse)],
        Limits = ResourceLimits.Default with { WallTime = TimeSpan.FromSeconds(60) },
    };

    private static readonly string Gateway = SandboxAddresses.Gateway.ToString();

    [EgressTheory]
    [InlineData(ExecutionMode.OneShot)]
    [InlineData(ExecutionMode.Agent)]
    [InlineData(ExecutionMode.MicroVm)]
    public async Task Allowed_destinations_are_reachable_and_nothing_else_is(ExecutionMode mode)
    {
        var host = EgressFactAttribute.HostAddress()!.ToString();
        var spec = Egress([$"127.0.0.1:{Port(_loopbackAllowed)}", $"{host}:{Port(_hostAllowed!)}"]);
        var targets = new[]
        {
            $"{Gateway}:{Port(_loopbackAllowed)}", // the host's loopback, allowed port
            $"{Gateway}:{Port(_loopbackDenied)}", // the host's loopback, another port
            $"127.0.0.1:{Port(_loopbackAllowed)}", // the sandbox's own loopback is not the host's
            $"{host}:{Port(_hostAllowed!)}", // an allowed address and port
            $"{host}:{Port(_hostDenied!)}", // the same address, another port
            "192.0.2.1:80", // anywhere else
        };
        var r = await Harness.RunAsync(mode, ProbeProcess(targets), spec);
        Assert.True(r.Status.ExitCode == 0, r.Stderr);
        var seen = Parse(r.Stdout);
        Assert.Equal("ok", seen[targets[0]]);
        Assert.Equal("denied", seen[targets[1]]);
        Assert.Equal("denied", seen[targets[2]]);
        Assert.Equal("ok", seen[targets[3]]);
        Assert.Equal("denied", seen[targets[4]]);
        Assert.Equal("denied", seen[targets[5]]);
    }

    [EgressTheory]
    [InlineData(ExecutionMode.OneShot)]
    [InlineData(ExecutionMode.MicroVm)]
    public async Task The_hosts_loopback_is_out_of_reach_unless_allowed(ExecutionMode mode)
    {
        var host = EgressFactAttribute.HostAddress()!.ToString();
        var spec = Egress([$"{host}:{Port(_hostAllowed!)}", "0.0.0.0/0:9"]);
        var targets = new[] { $"{Gateway}:{Port(_loopbackAllowed)}", $"127.0.0.1:{Port(_loopbackAllowed)}", $"{host}:{Port(_hostAllowed!)}" };
        var r = await Harness.RunAsync(mode, ProbeProcess(targets), spec);
        var seen = Parse(r.Stdout);
        Assert.True(seen.Count == 3, r.Stdout + r.Stderr);
        Assert.Equal("denied", seen[targets[0]]);
        Assert.Equal("denied", seen[targets[1]]);
        Assert.Equal("ok", seen[targets[2]]);
    }

    [EgressTheory]
    [InlineData(ExecutionMode.OneShot)]
    [InlineData(ExecutionMode.MicroVm)]
    public async Task The_resolver_answers_allowed_names_only_with_the_pinned_addresses(ExecutionMode mode)
    {
        if (AptMirror.Find() is not { } mirror)
        {
            Assert.Fail("no http apt mirror in the host's apt sources; EgressFact should have skipped");
            return;
        }
        var pinned = (await Dns.GetHostAddressesAsync(mirror.Host, AddressFamily.InterNetwork)).Select(a => a.ToString()).Order().ToList();
        var spec = Egress([$"{mirror.Host}:{mirror.Port}"]);
        var r = await Harness.RunAsync(mode,
            Harness.Sh($"getent ahostsv4 {mirror.Host} | awk '{{print $1}}' | sort -u; echo ---; getent hosts denied.example.org || echo denied-name-fails"),
            spec);
        var parts = r.Stdout.Split("---\n");
        Assert.True(parts.Length == 2, r.Stdout + r.Stderr);
        Assert.Equal(pinned, parts[0].Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal("denied-name-fails", parts[1].Trim());
    }

    [EgressTheory]
    [InlineData(ExecutionMode.Agent)]
    [InlineData(ExecutionMode.MicroVm)]
    public async Task A_published_port_reaches_a_server_inside_from_the_hosts_loopback(ExecutionMode mode)
    {
        var hostPort = Sandbox.Tests.Common.LoopbackPort.Free();
        var spec = Egress([], [$"{hostPort}:8000"]);
        await using var sandbox = await Harness.DriverFor(mode).CreateAsync(spec, CancellationToken.None);
        var ready = new ReadySignal();
        var server = await sandbox.ExecAsync(Harness.Python(
            "import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', 8000)); s.listen(1)\n" +
            "print('ready', flush=True)\nc,_=s.accept(); c.recv(16); c.sendall(b'from inside\\n'); c.close()"),
            new ProcessIO { Stdout = ready }, CancellationToken.None);
        await ready.Task.WaitAsync(TimeSpan.FromSeconds(60));
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, hostPort);
        // The client speaks first: the microVM tier's passt (Debian 12's) opens the connection to the guest only once
        // data arrives (docs/network.md).
        await client.GetStream().WriteAsync("hi\n"u8.ToArray());
        using var reader = new StreamReader(client.GetStream());
        Assert.Equal("from inside", await reader.ReadLineAsync());
        Assert.Equal(0, (await server.WaitAsync(CancellationToken.None)).ExitCode);
        Assert.Contains($"published 127.0.0.1:{hostPort} -> port 8000", sandbox.Info.Egress);
    }

    /// <summary>TCP's send buffer in the sandbox's namespace is capped (NamespaceTcpSendBuffer: an uncapped window
    /// overruns Debian 12's pasta and collapses into retransmission timeouts), and only there: the host keeps its own.</summary>
    [EgressFact]
    public async Task The_sandboxs_namespace_caps_tcp_send_buffers_below_what_pasta_can_take()
    {
        var host = (await File.ReadAllTextAsync("/proc/sys/net/ipv4/tcp_wmem")).Trim();
        var r = await Harness.RunAsync(ExecutionMode.OneShot, Harness.Sh("cat /proc/sys/net/ipv4/tcp_wmem"), Egress([$"127.0.0.1:{Port(_loopbackAllowed)}"]));
        Assert.True(r.Status.ExitCode == 0, r.Stderr);
        Assert.Equal(NamespaceTcpSendBuffer.Value, string.Join(' ', r.Stdout.Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries)));
        Assert.Equal(host, (await File.ReadAllTextAsync("/proc/sys/net/ipv4/tcp_wmem")).Trim());
    }

    [EgressFact]
    public async Task Nothing_of_the_network_outlives_the_sandbox()
    {
        var spec = Egress([$"127.0.0.1:{Port(_loopbackAllowed)}"]);
        var sandbox = await Harness.Driver.CreateAsync(spec, CancellationToken.None);
        var network = ((ContainerSandbox)sandbox).Instance.Network!;
        var pids = network.HelperPids;
        Assert.True(File.Exists(network.NetnsPath));
        Assert.All(pids, pid => Assert.True(Directory.Exists($"/proc/{pid}")));
        await sandbox.DisposeAsync();
        AssertGone(spec.Id, pids);
    }

    [EgressFact]
    public async Task Nothing_of_a_microvms_network_outlives_it()
    {
        var spec = Egress([$"127.0.0.1:{Port(_loopbackAllowed)}"]);
        var sandbox = await Harness.VmDriver.CreateAsync(spec, CancellationToken.None);
        Assert.Contains(sandbox.Info.Egress, e => e.Contains($"{Port(_loopbackAllowed)}", StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(new NetworkOptions().NetnsDirectory, NetworkOptions.NetnsPrefix + spec.Id.Value)));
        await sandbox.DisposeAsync();
        AssertGone(spec.Id, []);
    }

    [EgressFact]
    public async Task A_failed_start_leaves_no_namespace_helper_or_state()
    {
        // pasta "fails" (false exits 1) after the namespace, the filter and dnsmasq were set up: all of them must go.
        var broken = new BubblewrapDriver(new BubblewrapOptions { AgentDirectory = Harness.AgentDirectory, Network = new NetworkOptions { PastaPath = "/bin/false" } });
        var spec = Egress(["192.0.2.7:80"]);
        var e = await Assert.ThrowsAsync<SandboxException>(() => broken.CreateAsync(spec, CancellationToken.None));
        Assert.Equal(SandboxErrorCode.Unavailable, e.Code);
        Assert.Contains("/bin/false", e.Message);
        AssertGone(spec.Id, DnsmasqPidsOf(spec.Id));
        Assert.Empty(Harness.CgroupLeftovers(spec.Id));
    }

    [EgressFact]
    public async Task A_name_the_host_cannot_resolve_is_refused_before_anything_is_made()
    {
        var spec = Egress(["no-such-host.invalid:80"]);
        var e = await Assert.ThrowsAsync<SandboxException>(() => Harness.Driver.CreateAsync(spec, CancellationToken.None));
        Assert.Equal(SandboxErrorCode.FailedPrecondition, e.Code);
        Assert.Contains("no-such-host.invalid", e.Message);
        AssertGone(spec.Id, []);
    }

    private static void AssertGone(SandboxId id, IReadOnlyList<int> pids)
    {
        var options = new NetworkOptions();
        Assert.False(File.Exists(Path.Combine(options.NetnsDirectory, NetworkOptions.NetnsPrefix + id.Value)), "namespace left");
        Assert.False(Directory.Exists(Path.Combine(options.StateDirectory, id.Value)), "state directory left");
        Assert.All(pids, pid => Assert.False(Sandbox.Tests.Common.HostProcess.IsLive(pid), $"helper {pid} left"));
    }

    /// <summary>The dnsmasq of this sandbox only (its configuration lies in the sandbox's state directory): other test
    /// classes start egress sandboxes, and their dnsmasq, at the same time.</summary>
    private static List<int> DnsmasqPidsOf(SandboxId id) =>
        Directory.EnumerateDirectories("/proc").Select(Path.GetFileName).Where(n => int.TryParse(n, out _))
            .Where(n =>
            {
                try { return File.ReadAllText($"/proc/{n}/comm").Trim() == "dnsmasq" && File.ReadAllText($"/proc/{n}/cmdline").Contains(id.Value, StringComparison.Ordinal); }
                catch (IOException) { return false; }
            })
            .Select(n => int.Parse(n!)).ToList();

    /// <summary>A stdout that completes when the process has printed "ready".</summary>
    private sealed class ReadySignal : MemoryStream
    {
        private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public Task Task => _ready.Task;

        public override void Write(byte[] buffer, int offset, int count)
        {
            base.Write(buffer, offset, count);
            if (Encoding.UTF8.GetString(ToArray()).Contains("ready")) _ready.TrySetResult();
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            base.Write(buffer.Span);
            if (Encoding.UTF8.GetString(ToArray()).Contains("ready")) _ready.TrySetResult();
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>Skips where network mode egress cannot run: not root, or pasta, dnsmasq, nft or ip missing, or no
/// non-loopback IPv4 address on the host.</summary>
public sealed class EgressFactAttribute : FactAttribute
{
    public EgressFactAttribute()
    {
        if (EgressTheoryAttribute.Why() is { } why)
            Skip = why;
    }

    public static IPAddress? HostAddress() =>
        NetworkInterface.GetAllNetworkInterfaces()
            .Where(i => i.OperationalStatus == OperationalStatus.Up && i.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(i => i.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));
}

public sealed class EgressTheoryAttribute : TheoryAttribute
{
    public EgressTheoryAttribute()
    {
        if (Why() is { } why)
            Skip = why;
    }

    internal static string? Why()
    {
        if (!Environment.IsPrivilegedProcess)
            return "network mode egress needs root (it creates network namespaces)";
        if (new NetworkOptions().Missing() is { Count: > 0 } missing)
            return $"not installed: {string.Join(", ", missing)}";
        if (EgressFactAttribute.HostAddress() is null)
            return "the host has no non-loopback IPv4 address to serve from";
        return null;
    }
}
