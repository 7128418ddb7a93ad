using Sandbox.Isolation.Agent;
using System.Security.Cryptography;
using System.Text;
using Sandbox.Isolation.Container;
using Sandbox.Isolation.MicroVm.Kernel;

namespace Sandbox.Isolation.MicroVm.Initramfs;

/// <summary>
/// The guest's initramfs: the agent as /init (it is PID 1), its glibc loader and libraries where the binary's ELF
/// interpreter and the loader's default search path expect them, the modules the guest needs with their load order,
/// and /dev/console (so PID 1 starts with stdio on the serial console). Nothing else. Built once per (kernel version,
/// agent bundle, modules) and cached by the digest of those inputs: the modules are those of the guest's features
/// (<see cref="GuestKernel.ModulesFor"/>), so there is one image per feature set in use.
/// </summary>
internal static class InitramfsImage
{
    private static readonly Lock s_lock = new();
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> s_byStamp = new();

    public static string GetOrBuild(string cacheDirectory, GuestKernel kernel, AgentBundle agent, GuestFeatures features)
    {
        var modules = kernel.ModuleLoadOrder(features);
        var libs = Directory.GetFiles(Path.Combine(agent.Directory, "lib")).Order(StringComparer.Ordinal).ToList();
        var agentBinary = Path.Combine(agent.Directory, "sandbox-agent");

        // Hashing the inputs reads megabytes: once per process per set of unchanged files (path, size, mtime) is enough.
        var stamp = new StringBuilder(cacheDirectory).Append('\0').Append(kernel.Version);
        foreach (var file in new[] { agentBinary }.Concat(libs).Concat(modules.Select(m => m.Path)))
        {
            var info = new FileInfo(file);
            stamp.Append('\0').Append(file).Append('\0').Append(info.Length).Append('\0').Append(info.LastWriteTimeUtc.Ticks);
        }
        if (s_byStamp.TryGetValue(stamp.ToString(), out var known) && File.Exists(known)) return known;
        var built = Build(cacheDirectory, kernel, modules, libs, agentBinary);
        s_byStamp[stamp.ToString()] = built;
        return built;
    }

    private static string Build(string cacheDirectory, GuestKernel kernel, IReadOnlyList<(string Name, string Path)> modules, List<string> libs, string agentBinary)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes("initramfs-v1\0" + kernel.Version + "\0"));
        foreach (var file in new[] { agentBinary }.Concat(libs).Concat(modules.Select(m => m.Path)))
        {
            hash.AppendData(Encoding.UTF8.GetBytes(Path.GetFileName(file) + "\0"));
            hash.AppendData(File.ReadAllBytes(file));
        }
        var digest = Convert.ToHexStringLower(hash.GetHashAndReset())[..32];
        var dir = Path.Combine(cacheDirectory, "initramfs");
        var path = Path.Combine(dir, digest + ".cpio");
        lock (s_lock)
        {
            if (File.Exists(path)) return path;
            Directory.CreateDirectory(dir);
            var temp = path + "." + Environment.ProcessId + ".tmp";
            using (var output = new FileStream(temp, FileMode.Create, FileAccess.Write))
                Write(output, agentBinary, libs, modules);
            File.Move(temp, path, overwrite: true);
            return path;
        }
    }

    private static void Write(Stream output, string agentBinary, IReadOnlyList<string> libs, IReadOnlyList<(string Name, string Path)> modules)
    {
        var cpio = new CpioWriter(output);
        foreach (var d in new[] { "dev", "proc", "sys", "lib", "lib/x86_64-linux-gnu", "lib64", "modules", "shares", "newroot" })
            cpio.AddDirectory(d);
        cpio.AddCharDevice("dev/console", 5, 1);
        cpio.AddFile("init", File.ReadAllBytes(agentBinary), 0x1ED);
        foreach (var lib in libs)
        {
            var name = Path.GetFileName(lib);
            var target = name.StartsWith("ld-linux", StringComparison.Ordinal) ? "lib64/" + name : "lib/x86_64-linux-gnu/" + name;
            cpio.AddFile(target, File.ReadAllBytes(lib), 0x1ED);
        }
        foreach (var (name, path) in modules)
            cpio.AddFile("modules/" + name + ".ko", File.ReadAllBytes(path));
        cpio.AddFile("modules/order", Encoding.ASCII.GetBytes(string.Join('\n', modules.Select(m => m.Name)) + "\n"));
        cpio.Finish();
    }
}
