using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Sandbox.Shim.Tests;

/// <summary>A private containerd for the shim tests: its own root, state, sockets and namespace under one temporary
/// directory, the published shim on its PATH. Its CRI plugin serves the runtime handler <see cref="CriHandler"/>
/// (our runtime; pod and container annotations io.sandbox.* pass through to the bundle, as Kata's do) with a pause
/// image built here (no registry is reachable) and a CNI network of its own (<see cref="CniConfig"/>: Debian's
/// containernetworking-plugins, a bridge and a private subnet of this fixture) for the pods that do not use the node's
/// network mode. Started once per test collection, stopped at the end with everything it made (tasks, containers,
/// images, mounts, the bridge, the directory).</summary>
public sealed class ContainerdFixture : IAsyncLifetime
{
    public const string Namespace = "shimtest";
    public const string Runtime = "io.containerd.sandbox.v2";
    public const string Image = "docker.io/library/busybox-shimtest:latest";
    /// <summary>CRI's sandbox image: the busybox tree with `sleep infinity` as its command (pause's job: hold the pod).</summary>
    public const string PauseImage = "docker.io/library/pause-shimtest:1";
    public const string CriHandler = "sandbox";
    /// <summary>The containerd namespace CRI always uses.</summary>
    public const string CriNamespace = "k8s.io";

    private Process? _containerd;

    public string? SkipReason { get; private set; }
    public string Dir { get; } = Path.Combine("/tmp", "shimt-" + Guid.NewGuid().ToString("N")[..8]);
    public string Socket => Path.Combine(Dir, "c.sock");
    public string Rootfs => Path.Combine(Dir, "rootfs");
    public string LogPath => Path.Combine(Dir, "containerd.log");
    public string ShimDir => ShimPrerequisites.ShimDir;

    /// <summary>Debian's containernetworking-plugins: bridge, host-local, loopback.</summary>
    public const string CniBinDir = "/usr/lib/cni";
    /// <summary>This fixture's CNI bridge on the host (at most 15 characters) and the pods' /24, picked at random among
    /// 10.200.0.0/16 so that fixtures of concurrent runs do not collide.</summary>
    public string CniBridge => "sbx" + Path.GetFileName(Dir)[^8..];
    public string PodSubnet { get; } = $"10.200.{Random.Shared.Next(1, 255)}.0/24";
    public string PodGateway => PodSubnet[..^4] + "1";
    /// <summary>The pods' interfaces' MTU (the bridge plugin's "mtu"): not the default 1500, so a test sees it carried over.</summary>
    public const int PodMtu = 1450;
    private string? _ipForwardBefore;

    /// <summary>The CNI network containerd's CRI plugin sets up for a pod outside the node's network: a bridge with the
    /// gateway address (so the host reaches pods directly), host-local addresses kept in this fixture's directory, no
    /// masquerading (no rule in the host's firewall), an MTU of <see cref="PodMtu"/>.</summary>
    private string CniConfig => $$"""
        {
          "cniVersion": "0.4.0",
          "name": "sandbox-shim-test",
          "plugins": [
            {
              "type": "bridge",
              "bridge": "{{CniBridge}}",
              "isGateway": true,
              "ipMasq": false,
              "mtu": {{PodMtu}},
              "ipam": {
                "type": "host-local",
                "ranges": [[{ "subnet": "{{PodSubnet}}", "gateway": "{{PodGateway}}" }]],
                "routes": [{ "dst": "0.0.0.0/0" }],
                "dataDir": "{{Dir}}/cni/ipam"
              }
            }
          ]
        }
        """;

    public async Task InitializeAsync()
    {
        SkipReason = ShimPrerequisites.Missing();
        if (SkipReason is not null)
            return;
        Directory.CreateDirectory(Dir);
        File.SetUnixFileMode(Dir, (UnixFileMode)0b111_101_101);
        BusyboxRootfs.Build(Rootfs);
        // The bridge plugin turns the host's IPv4 forwarding on (isGateway); it is put back as it was at the end.
        _ipForwardBefore = (await File.ReadAllTextAsync("/proc/sys/net/ipv4/ip_forward")).Trim();
        Directory.CreateDirectory(Path.Combine(Dir, "cni/conf"));
        await File.WriteAllTextAsync(Path.Combine(Dir, "cni/conf/10-sandbox-shim-test.conflist"), CniConfig);
        await File.WriteAllTextAsync(Path.Combine(Dir, "config.toml"), $"""
            version = 2
            root = "{Dir}/root"
            state = "{Dir}/state"
            [grpc]
              address = "{Socket}"
            [ttrpc]
              address = "{Socket}.ttrpc"
            [debug]
              level = "info"
            [plugins."io.containerd.grpc.v1.cri"]
              sandbox_image = "{PauseImage}"
              [plugins."io.containerd.grpc.v1.cri".containerd]
                snapshotter = "overlayfs"
                default_runtime_name = "{CriHandler}"
                [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{CriHandler}]
                  runtime_type = "{Runtime}"
                  pod_annotations = ["io.sandbox.*"]
                  container_annotations = ["io.sandbox.*"]
              [plugins."io.containerd.grpc.v1.cri".cni]
                bin_dir = "{CniBinDir}"
                conf_dir = "{Dir}/cni/conf"
            """);
        await StartContainerdAsync();
        var image = Path.Combine(Dir, "busybox-oci.tar");
        OciImageBuilder.Build(Rootfs, image, Image);
        var imported = await CtrAsync(["image", "import", image]);
        Assert.True(imported.ExitCode == 0, $"ctr image import: {imported}");
        var pause = Path.Combine(Dir, "pause-oci.tar");
        OciImageBuilder.Build(Rootfs, pause, PauseImage, ["/bin/sleep", "infinity"]);
        foreach (var tar in new[] { image, pause })
        {
            var criImport = await CtrInAsync(CriNamespace, ["image", "import", tar]);
            Assert.True(criImport.ExitCode == 0, $"ctr -n {CriNamespace} image import: {criImport}");
        }
    }

    public async Task StartContainerdAsync()
    {
        var info = new ProcessStartInfo("/usr/bin/containerd")
        {
            // containerd 1.6 looks for a shim binary in its working directory before its PATH (BinaryPath makes the
            // bare name absolute against the cwd): started in the test's bin directory, it ran the JIT build of the
            // shim that lies there instead of the published one on the PATH.
            WorkingDirectory = Dir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("--config");
        info.ArgumentList.Add(Path.Combine(Dir, "config.toml"));
        info.Environment["PATH"] = $"{ShimDir}:{Environment.GetEnvironmentVariable("PATH")}";
        _containerd = Process.Start(info)!;
        var log = new StreamWriter(LogPath, append: true) { AutoFlush = true };
        // containerd logs this line once it serves its sockets: the readiness signal (ctr gives up at once on a
        // socket that is not listening yet).
        var booted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        DataReceivedEventHandler onLine = (_, e) =>
        {
            if (e.Data is null)
                return;
            lock (log)
                log.WriteLine(e.Data);
            if (e.Data.Contains("containerd successfully booted", StringComparison.Ordinal))
                booted.TrySetResult();
        };
        _containerd.OutputDataReceived += onLine;
        _containerd.ErrorDataReceived += onLine;
        _containerd.BeginOutputReadLine();
        _containerd.BeginErrorReadLine();
        var exited = _containerd.WaitForExitAsync();
        var first = await Task.WhenAny(booted.Task, exited).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(first == booted.Task, $"containerd did not come up\n{ReadLog()}");
        var version = await CommandRunner.RunAsync("/usr/bin/ctr", ["--address", Socket, "version"]);
        Assert.True(version.ExitCode == 0, $"containerd does not answer: {version}\n{ReadLog()}");
    }

    /// <summary>SIGTERM and wait: the shims and their tasks keep running.</summary>
    public async Task StopContainerdAsync()
    {
        if (_containerd is null || _containerd.HasExited)
            return;
        kill(_containerd.Id, 15);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await _containerd.WaitForExitAsync(cts.Token);
        _containerd.Dispose();
        _containerd = null;
    }

    public Task<CommandRunner.Result> CtrAsync(IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null) =>
        CtrInAsync(Namespace, args, stdin, timeout);

    public Task<CommandRunner.Result> CtrInAsync(string ns, IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null) =>
        CommandRunner.RunAsync("/usr/bin/ctr", new[] { "--address", Socket, "-n", ns }.Concat(args), stdin, timeout);

    public string ReadLog()
    {
        using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return new StreamReader(stream).ReadToEnd();
    }

    /// <summary>Shim processes still alive (any container of this containerd).</summary>
    public IReadOnlyList<int> LiveShims()
    {
        var result = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
                continue;
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0');
                if (cmdline[0].EndsWith("containerd-shim-sandbox-v2", StringComparison.Ordinal) && cmdline.Contains(Socket))
                    result.Add(pid);
            }
            catch (IOException)
            {
                // exited meanwhile
            }
        }
        return result;
    }

    public async Task DisposeAsync()
    {
        if (SkipReason is not null)
            return;
        if (_containerd is not null)
        {
            foreach (var ns in new[] { Namespace, CriNamespace })
            {
                var tasks = await CtrInAsync(ns, ["task", "ls", "-q"]);
                foreach (var id in tasks.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                {
                    await CtrInAsync(ns, ["task", "kill", "-s", "SIGKILL", id]);
                    await CtrInAsync(ns, ["task", "delete", "-f", id]);
                }
                var containers = await CtrInAsync(ns, ["container", "ls", "-q"]);
                foreach (var id in containers.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                    await CtrInAsync(ns, ["container", "rm", id]);
            }
            await CtrAsync(["image", "rm", Image]);
            await CtrInAsync(CriNamespace, ["image", "rm", Image, PauseImage]);
            await StopContainerdAsync();
        }
        foreach (var mount in File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4]).Where(m => m.StartsWith(Dir, StringComparison.Ordinal)).Reverse())
            umount2(mount, 2);
        if (Directory.Exists($"/sys/class/net/{CniBridge}"))
            await CommandRunner.RunAsync("/usr/sbin/ip", ["link", "delete", CniBridge]);
        if (_ipForwardBefore is not null)
            await File.WriteAllTextAsync("/proc/sys/net/ipv4/ip_forward", _ipForwardBefore);
        Directory.Delete(Dir, recursive: true);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    [DllImport("libc", SetLastError = true)]
    private static extern int umount2(string target, int flags);
}

[CollectionDefinition(Name)]
public sealed class ContainerdCollection : ICollectionFixture<ContainerdFixture>
{
    public const string Name = "containerd";
}
