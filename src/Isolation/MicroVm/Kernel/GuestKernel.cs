using System.Text;

namespace Sandbox.Isolation.MicroVm.Kernel;

/// <summary>The guest kernel a microVM boots (an uncompressed ELF vmlinux, through PVH): Debian's, as
/// scripts/fetch-kernel.sh leaves it (&lt;cache&gt;/current → &lt;version&gt;/ with the vmlinux and the package's
/// lib/modules tree), or the minimal one `sandbox kernel build` makes (&lt;cache&gt;/minimal/current → &lt;key&gt;/vmlinux,
/// everything built in: <paramref name="ModulesDirectory"/> is null and the initramfs carries no modules).</summary>
public sealed record GuestKernel(string Version, string VmlinuxPath, string? ModulesDirectory)
{
    /// <summary>What every guest needs that Debian builds as modules: the virtio-mmio transport and the virtio-serial
    /// console (the agent channel). The rest is loaded only by a guest with the device or feature that uses it
    /// (<see cref="ModulesFor"/>): each module costs a TCG cold boot ~15-25 ms of QEMU CPU to load and probe.</summary>
    public static readonly string[] BaseModules = ["virtio_mmio", "virtio_console"];

    /// <summary>The modules a guest with <paramref name="features"/> loads (their dependencies are added from each
    /// module's "depends=" field): virtio-9p for shares (the host userland, a pod share), virtio-blk with erofs for a
    /// root image (crc32c_generic is what erofs's libcrc32c asks the crypto API for at load time; no "depends=" names
    /// it, and crc32c-intel may be refused under TCG), overlay for an image root's writable upper layer, virtio-net
    /// for network mode egress, and for a pod's later containers loop, erofs and overlay (their root images are files
    /// on the pod share).</summary>
    public static IReadOnlyList<string> ModulesFor(GuestFeatures features)
    {
        var modules = new List<string>(BaseModules);
        void Add(params string[] names) => modules.AddRange(names.Where(n => !modules.Contains(n)));
        if (features.HasFlag(GuestFeatures.Shares)) Add("9pnet_virtio", "9p");
        if (features.HasFlag(GuestFeatures.RootImage)) Add("virtio_blk", "crc32c_generic", "erofs");
        if (features.HasFlag(GuestFeatures.WritableRoot)) Add("overlay");
        if (features.HasFlag(GuestFeatures.Network)) Add("virtio_net");
        if (features.HasFlag(GuestFeatures.Pod)) Add("crc32c_generic", "erofs", "overlay", "loop");
        return modules;
    }

    /// <summary>True for the minimal kernel of `sandbox kernel build` (no modules, no ACPI).</summary>
    public bool IsMinimal => ModulesDirectory is null;

    /// <summary>The kernel the tier boots: the minimal one when it has been built and <paramref name="preferMinimal"/>,
    /// else Debian's.</summary>
    public static GuestKernel Locate(string cacheDirectory, bool preferMinimal = true)
    {
        if (preferMinimal && MinimalKernelBuilder.TryLocate(cacheDirectory) is { } minimal)
            return minimal;
        return LocateDebian(cacheDirectory);
    }

    /// <summary>Debian's kernel (scripts/fetch-kernel.sh).</summary>
    public static GuestKernel LocateDebian(string cacheDirectory)
    {
        var current = Path.Combine(cacheDirectory, "current");
        var dir = new DirectoryInfo(current);
        var target = dir.LinkTarget is { } link ? Path.GetFullPath(link, cacheDirectory) : current;
        var version = Path.GetFileName(target);
        var vmlinux = Path.Combine(target, "vmlinux");
        var modules = Path.Combine(target, "lib", "modules", version);
        if (!File.Exists(vmlinux) || !Directory.Exists(modules))
            throw new SandboxException(SandboxErrorCode.Unavailable,
                $"no guest kernel in {current} (expected vmlinux and lib/modules/<version>); run scripts/fetch-kernel.sh");
        return new GuestKernel(version, vmlinux, modules);
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, IReadOnlyList<(string Name, string Path)>> s_loadOrders = new();

    /// <summary>The modules of a guest with <paramref name="features"/> (<see cref="ModulesFor"/>) and their
    /// dependencies, dependencies first. Computed once per process per modules tree (a version directory, ~8000 files,
    /// that the fetch script never changes in place) and feature set.</summary>
    public IReadOnlyList<(string Name, string Path)> ModuleLoadOrder(GuestFeatures features)
    {
        if (ModulesDirectory is null) return [];
        var stamp = ModulesDirectory + "\0" + Directory.GetLastWriteTimeUtc(ModulesDirectory).Ticks + "\0" + (int)features;
        if (s_loadOrders.TryGetValue(stamp, out var known) && known.All(m => File.Exists(m.Path))) return known;
        var computed = ComputeModuleLoadOrder(IndexModules(), ModulesFor(features));
        s_loadOrders[stamp] = computed;
        return computed;
    }

    private Dictionary<string, string> IndexModules()
    {
        var index = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(ModulesDirectory!, "*.ko", SearchOption.AllDirectories))
            index.TryAdd(Path.GetFileNameWithoutExtension(file).Replace('-', '_'), file);
        return index;
    }

    private List<(string Name, string Path)> ComputeModuleLoadOrder(IReadOnlyDictionary<string, string> index, IReadOnlyList<string> required)
    {
        var order = new List<(string, string)>();
        var state = new Dictionary<string, bool>(StringComparer.Ordinal); // false = visiting, true = done
        void Visit(string name)
        {
            if (state.TryGetValue(name, out var done))
            {
                if (!done) throw new SandboxException(SandboxErrorCode.Internal, $"module dependency cycle at {name} in {ModulesDirectory}");
                return;
            }
            if (!index.TryGetValue(name, out var path))
                throw new SandboxException(SandboxErrorCode.Unavailable, $"guest kernel module {name} not found under {ModulesDirectory}");
            state[name] = false;
            foreach (var dep in Depends(path))
                Visit(dep);
            state[name] = true;
            order.Add((name, path));
        }
        foreach (var name in required)
            Visit(name);
        return order;
    }

    /// <summary>The "depends=a,b" string of a module's .modinfo section (NUL-separated key=value strings).</summary>
    internal static IReadOnlyList<string> Depends(string modulePath)
    {
        var bytes = File.ReadAllBytes(modulePath);
        var key = "\0depends="u8;
        var at = bytes.AsSpan().IndexOf(key);
        if (at < 0) return [];
        var rest = bytes.AsSpan(at + key.Length);
        var end = rest.IndexOf((byte)0);
        var value = Encoding.ASCII.GetString(end >= 0 ? rest[..end] : rest);
        return value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(d => d.Replace('-', '_')).ToList();
    }
}
