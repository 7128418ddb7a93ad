using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Sandbox.Shim.Tests;

/// <summary>A private containerd for the shim tests: its own root, state, sockets and namespace under one temporary
/// directory, the published shim on its PATH, CRI disabled. Started once per test collection, stopped at the end
/// with everything it made (tasks, containers, images, mounts, the directory).</summary>
public sealed class ContainerdFixture : IAsyncLifetime
{
    public const string Namespace = "shimtest";
    public const string Runtime = "io.containerd.sandbox.v2";
    public const string Image = "docker.io/library/busybox-shimtest:latest";

    private Process? _containerd;

    public string? SkipReason { get; private set; }
    public string Dir { get; } = Path.Combine("/tmp", "shimt-" + Guid.NewGuid().ToString("N")[..8]);
    public string Socket => Path.Combine(Dir, "c.sock");
    public string Rootfs => Path.Combine(Dir, "rootfs");
    public string LogPath => Path.Combine(Dir, "containerd.log");
    public string ShimDir => ShimPrerequisites.ShimDir;

    public async Task InitializeAsync()
    {
        SkipReason = ShimPrerequisites.Missing();
        if (SkipReason is not null)
            return;
        Directory.CreateDirectory(Dir);
        File.SetUnixFileMode(Dir, (UnixFileMode)0b111_101_101);
        BusyboxRootfs.Build(Rootfs);
        await File.WriteAllTextAsync(Path.Combine(Dir, "config.toml"), $"""
            version = 2
            root = "{Dir}/root"
            state = "{Dir}/state"
            disabled_plugins = ["io.containerd.grpc.v1.cri"]
            [grpc]
              address = "{Socket}"
            [ttrpc]
              address = "{Socket}.ttrpc"
            [debug]
              level = "info"
            """);
        await StartContainerdAsync();
        var image = Path.Combine(Dir, "busybox-oci.tar");
        OciImageBuilder.Build(Rootfs, image, Image);
        var imported = await CtrAsync(["image", "import", image]);
        Assert.True(imported.ExitCode == 0, $"ctr image import: {imported}");
    }

    public async Task StartContainerdAsync()
    {
        var info = new ProcessStartInfo("/usr/bin/containerd")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("--config");
        info.ArgumentList.Add(Path.Combine(Dir, "config.toml"));
        info.Environment["PATH"] = $"{ShimDir}:{Environment.GetEnvironmentVariable("PATH")}";
        _containerd = Process.Start(info)!;
        var log = new StreamWriter(LogPath, append: true) { AutoFlush = true };
        _containerd.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        _containerd.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        _containerd.BeginOutputReadLine();
        _containerd.BeginErrorReadLine();
        // ctr keeps dialling until its connect timeout: the first answer is the readiness signal.
        var version = await CommandRunner.RunAsync("/usr/bin/ctr", ["--address", Socket, "--connect-timeout", "20s", "version"]);
        Assert.True(version.ExitCode == 0, $"containerd did not come up: {version}\n{ReadLog()}");
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
        CommandRunner.RunAsync("/usr/bin/ctr", new[] { "--address", Socket, "-n", Namespace }.Concat(args), stdin, timeout);

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
            var tasks = await CtrAsync(["task", "ls", "-q"]);
            foreach (var id in tasks.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                await CtrAsync(["task", "kill", "-s", "SIGKILL", id]);
                await CtrAsync(["task", "delete", "-f", id]);
            }
            var containers = await CtrAsync(["container", "ls", "-q"]);
            foreach (var id in containers.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                await CtrAsync(["container", "rm", id]);
            await CtrAsync(["image", "rm", Image]);
            await StopContainerdAsync();
        }
        foreach (var mount in File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4]).Where(m => m.StartsWith(Dir, StringComparison.Ordinal)).Reverse())
            umount2(mount, 2);
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
