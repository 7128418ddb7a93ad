namespace Sandbox.Bench.ContainerStart;

/// <summary>An OCI bundle (busybox-static rootfs, `runc spec` config running `true`) for runc and runsc.</summary>
internal sealed class OciBundles : IDisposable
{
    private readonly string _dir;
    private int _counter;

    public bool Ready { get; }

    private OciBundles(string dir, bool ready)
    {
        _dir = dir;
        Ready = ready;
    }

    public static OciBundles Create()
    {
        var dir = Directory.CreateTempSubdirectory("sandbox-bench-oci-").FullName;
        if (!File.Exists("/bin/busybox") || !File.Exists("/usr/sbin/runc"))
        {
            Console.WriteLine("runc/runsc rows skipped: busybox-static or runc is not installed");
            return new OciBundles(dir, false);
        }
        var rootfs = Path.Combine(dir, "rootfs", "bin");
        Directory.CreateDirectory(rootfs);
        File.Copy("/bin/busybox", Path.Combine(rootfs, "busybox"));
        File.CreateSymbolicLink(Path.Combine(rootfs, "true"), "busybox");
        Commands.RunAsync("/usr/sbin/runc", ["spec", "--bundle", dir]).GetAwaiter().GetResult();
        var config = File.ReadAllText(Path.Combine(dir, "config.json"))
            .Replace("\"sh\"", "\"/bin/true\"")
            .Replace("\"terminal\": true", "\"terminal\": false");
        File.WriteAllText(Path.Combine(dir, "config.json"), config);
        return new OciBundles(dir, true);
    }

    public Task RunRuncAsync() => Commands.RunAsync("/usr/sbin/runc", ["run", "--bundle", _dir, "bench-" + Interlocked.Increment(ref _counter)]);

    public Task RunRunscAsync() => Commands.RunAsync("/usr/bin/runsc",
        ["--platform=ptrace", "--network=none", "--root", Path.Combine(_dir, "runsc-state"), "run", "--bundle", _dir, "bench-" + Interlocked.Increment(ref _counter)]);

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
