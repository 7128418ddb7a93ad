using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace Sandbox.Isolation.MicroVm.Kernel;

/// <summary>Where a minimal kernel build is.</summary>
public enum KernelBuildStage
{
    Unpack,
    Configure,
    Compile,
    Install,
}

/// <summary>One step of a build: the stage, how far it is (0..1; an estimate while compiling) and the line make or
/// tar printed last.</summary>
public sealed record KernelBuildProgress(KernelBuildStage Stage, double Fraction, string Detail);

/// <summary>
/// `sandbox kernel build`: the microVM tier's optional minimal guest kernel, from Debian's linux-source-6.1 package
/// (/usr/src/linux-source-6.1.tar.xz) and our fragment kernel/sandbox-guest.config (embedded in this assembly), merged
/// over `make tinyconfig`. Every option the fragment sets must come out "=y" (an option whose dependencies are unmet
/// is named, not silently dropped). Only the ELF vmlinux is built (PVH boots it uncompressed; no bzImage, no
/// modules), stripped, and installed as &lt;kernel cache&gt;/minimal/&lt;key&gt;/{vmlinux,config,release}, the key
/// digesting the fragment and the source tarball (name, size, mtime); minimal/current points at the newest build, and
/// the tier picks it up (<see cref="GuestKernel.Locate"/>). The source tree is unpacked into a work directory that an
/// interrupted build resumes from (make is incremental) and that is removed after a successful build unless kept.
/// </summary>
public sealed class MinimalKernelBuilder
{
    public const string DefaultSourceTarball = "/usr/src/linux-source-6.1.tar.xz";

    /// <summary>Objects a full build of the fragment compiles (measured here); the compile bar's denominator until a
    /// build has recorded its own count in minimal/compile-steps.</summary>
    private const int DefaultCompileSteps = 1500;

    private readonly string _cacheDirectory;
    private readonly string _sourceTarball;

    /// <param name="kernelCacheDirectory">MicroVmOptions.KernelCacheDirectory (default /var/cache/sandbox/kernel).</param>
    public MinimalKernelBuilder(string kernelCacheDirectory, string sourceTarball = DefaultSourceTarball)
    {
        _cacheDirectory = kernelCacheDirectory;
        _sourceTarball = sourceTarball;
    }

    /// <summary>The config fragment (kernel/sandbox-guest.config) this build merges over tinyconfig.</summary>
    public static string Fragment { get; } = ReadFragment();

    /// <summary>The options the fragment sets to y.</summary>
    public static IReadOnlyList<string> RequiredOptions { get; } = Fragment.Split('\n')
        .Select(l => l.Trim()).Where(l => l.StartsWith("CONFIG_", StringComparison.Ordinal) && l.EndsWith("=y", StringComparison.Ordinal))
        .Select(l => l[..^2]).ToList();

    /// <summary>&lt;kernel cache&gt;/minimal.</summary>
    public string Root => Path.Combine(_cacheDirectory, "minimal");

    /// <summary>The cache key of a build of this fragment from this source tarball (32 hex digits).</summary>
    public string Key
    {
        get
        {
            var source = new FileInfo(_sourceTarball);
            if (!source.Exists)
                throw new SandboxException(SandboxErrorCode.Unavailable,
                    $"the kernel source {_sourceTarball} is missing (apt-get install linux-source-6.1 bc flex bison libelf-dev libssl-dev)");
            var text = $"sandbox-minimal-kernel-v1\0{Fragment}\0{source.Name}\0{source.Length}\0{source.LastWriteTimeUtc.Ticks}";
            return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..32];
        }
    }

    /// <summary>The built kernel minimal/current points at, or null when none is built (or it is incomplete).</summary>
    public static GuestKernel? TryLocate(string kernelCacheDirectory)
    {
        var current = Path.Combine(kernelCacheDirectory, "minimal", "current");
        var info = new DirectoryInfo(current);
        if (info.LinkTarget is null && !info.Exists) return null;
        var target = info.LinkTarget is { } link ? Path.GetFullPath(link, Path.GetDirectoryName(current)!) : current;
        var vmlinux = Path.Combine(target, "vmlinux");
        var release = Path.Combine(target, "release");
        if (!File.Exists(vmlinux) || !File.Exists(release)) return null;
        return new GuestKernel($"{File.ReadAllText(release).Trim()}-minimal-{Path.GetFileName(target)[..8]}", vmlinux, ModulesDirectory: null);
    }

    /// <summary>The kernel of this fragment and source, if it is built (whether or not current points at it).</summary>
    public GuestKernel? TryGetBuilt()
    {
        var dir = Path.Combine(Root, Key);
        var vmlinux = Path.Combine(dir, "vmlinux");
        var release = Path.Combine(dir, "release");
        return File.Exists(vmlinux) && File.Exists(release)
            ? new GuestKernel($"{File.ReadAllText(release).Trim()}-minimal-{Key[..8]}", vmlinux, ModulesDirectory: null)
            : null;
    }

    /// <summary>Builds the kernel (or finds it built), installs it and points minimal/current at it.</summary>
    /// <param name="jobs">make -j; the number of CPUs when 0.</param>
    /// <param name="workDirectory">Where the source tree is unpacked; default &lt;kernel cache&gt;/minimal/build.</param>
    /// <param name="keepTree">Keep the ~1.6 GB source and object tree after a successful build (a later build of a
    /// changed fragment is then incremental).</param>
    public async Task<GuestKernel> BuildAsync(int jobs, string? workDirectory, bool keepTree, IProgress<KernelBuildProgress>? progress,
        CancellationToken cancellationToken)
    {
        var key = Key;
        Directory.CreateDirectory(Root);
        if (TryGetBuilt() is { } built)
        {
            PointCurrentAt(key);
            return built;
        }
        using var held = Lock(Path.Combine(Root, "build.lock"));
        var work = workDirectory ?? Path.Combine(Root, "build");
        var tree = Path.Combine(work, Path.GetFileNameWithoutExtension(Path.GetFileNameWithoutExtension(_sourceTarball)));
        Directory.CreateDirectory(work);

        if (!File.Exists(Path.Combine(tree, "Makefile")))
        {
            const double entries = 80_000; // files and directories in the 6.1 tarball, about
            var seen = 0;
            await RunAsync("tar", ["-xvf", _sourceTarball, "-C", work], work, line =>
                progress?.Report(new(KernelBuildStage.Unpack, Math.Min(1, ++seen / entries), line)), cancellationToken).ConfigureAwait(false);
            if (!File.Exists(Path.Combine(tree, "Makefile")))
                throw new SandboxException(SandboxErrorCode.Unavailable, $"{_sourceTarball} did not unpack into {tree}");
        }

        progress?.Report(new(KernelBuildStage.Configure, 0, "make tinyconfig"));
        var fragment = Path.Combine(work, "sandbox-guest.config");
        await File.WriteAllTextAsync(fragment, Fragment, cancellationToken).ConfigureAwait(false);
        await RunAsync("make", ["ARCH=x86_64", "tinyconfig"], tree, null, cancellationToken).ConfigureAwait(false);
        progress?.Report(new(KernelBuildStage.Configure, 0.4, "merging kernel/sandbox-guest.config"));
        await RunAsync("scripts/kconfig/merge_config.sh", ["-m", ".config", fragment], tree, null, cancellationToken).ConfigureAwait(false);
        await RunAsync("make", ["ARCH=x86_64", "olddefconfig"], tree, null, cancellationToken).ConfigureAwait(false);
        CheckConfig(Path.Combine(tree, ".config"));
        progress?.Report(new(KernelBuildStage.Configure, 1, "configured"));

        var stepsFile = Path.Combine(Root, "compile-steps");
        var expected = File.Exists(stepsFile) && int.TryParse(File.ReadAllText(stepsFile).Trim(), out var recorded) && recorded > 0 ? recorded : DefaultCompileSteps;
        var steps = 0;
        await RunAsync("make", ["ARCH=x86_64", $"-j{(jobs > 0 ? jobs : Environment.ProcessorCount)}", "vmlinux"], tree, line =>
        {
            // kbuild's quiet lines: "  CC      kernel/fork.o", "  LD      vmlinux.o", ...
            if (line.Length > 2 && line[0] == ' ' && line[1] == ' ' && char.IsAsciiLetterUpper(line[2])) steps++;
            progress?.Report(new(KernelBuildStage.Compile, Math.Min(0.99, steps / (double)expected), line.Trim()));
        }, cancellationToken).ConfigureAwait(false);
        if (steps > expected / 2) // a full build (not a resumed one): its count is the next build's estimate
            await File.WriteAllTextAsync(stepsFile, steps + "\n", CancellationToken.None).ConfigureAwait(false);

        progress?.Report(new(KernelBuildStage.Install, 0, "strip vmlinux"));
        var release = (await RunAsync("make", ["-s", "ARCH=x86_64", "kernelrelease"], tree, null, cancellationToken).ConfigureAwait(false)).Trim();
        var staging = Path.Combine(Root, $"{key}.tmp-{Environment.ProcessId}");
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        Directory.CreateDirectory(staging);
        await RunAsync("strip", ["-o", Path.Combine(staging, "vmlinux"), Path.Combine(tree, "vmlinux")], tree, null, cancellationToken).ConfigureAwait(false);
        File.Copy(Path.Combine(tree, ".config"), Path.Combine(staging, "config"));
        await File.WriteAllTextAsync(Path.Combine(staging, "release"), release + "\n", cancellationToken).ConfigureAwait(false);
        var final = Path.Combine(Root, key);
        if (Directory.Exists(final)) Directory.Delete(final, recursive: true);
        Directory.Move(staging, final);
        PointCurrentAt(key);
        progress?.Report(new(KernelBuildStage.Install, 1, final));
        if (!keepTree)
            Directory.Delete(work, recursive: true);
        return TryGetBuilt() ?? throw new SandboxException(SandboxErrorCode.Internal, $"the minimal kernel vanished from {final} after it was installed");
    }

    /// <summary>Every option of the fragment must be "=y" in the merged .config; the ones that are not are listed.</summary>
    internal static void CheckConfig(string configPath)
    {
        var set = File.ReadLines(configPath).Where(l => l.EndsWith("=y", StringComparison.Ordinal)).Select(l => l[..^2]).ToHashSet(StringComparer.Ordinal);
        var missing = RequiredOptions.Where(o => !set.Contains(o)).ToList();
        if (missing.Count > 0)
            throw new SandboxException(SandboxErrorCode.InvalidArgument,
                $"kernel/sandbox-guest.config sets {missing.Count} option(s) that the merged {configPath} does not have as y " +
                $"(unmet dependencies or renamed in this source): {string.Join(", ", missing)}");
    }

    /// <summary>minimal/current → &lt;key&gt;, replaced atomically (a new link renamed over the old one).</summary>
    private void PointCurrentAt(string key)
    {
        var current = Path.Combine(Root, "current");
        var info = new FileInfo(current);
        if (info.LinkTarget == key) return;
        var temp = Path.Combine(Root, $"current.{Environment.ProcessId}.tmp");
        File.Delete(temp);
        File.CreateSymbolicLink(temp, key);
        File.Move(temp, current, overwrite: true);
    }

    /// <summary>One build at a time per cache: a second one is refused at once, not queued behind a build of minutes.</summary>
    private static FileStream Lock(string path)
    {
        try
        {
            // .NET takes flock(LOCK_EX | LOCK_NB) for FileShare.None on Unix.
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new SandboxException(SandboxErrorCode.FailedPrecondition, $"another minimal kernel build holds {path}", e);
        }
    }

    /// <summary>Runs a build tool, each output line to <paramref name="onLine"/>; a failure quotes the last lines.</summary>
    private static async Task<string> RunAsync(string program, IReadOnlyList<string> args, string workingDirectory, Action<string>? onLine,
        CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(program)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in args) info.ArgumentList.Add(a);
        Process process;
        try
        {
            process = Process.Start(info) ?? throw new SandboxException(SandboxErrorCode.Unavailable, $"cannot start {program}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new SandboxException(SandboxErrorCode.Unavailable,
                $"cannot run {program} ({e.Message}); the build needs make, gcc, bc, flex, bison, libelf-dev, libssl-dev, xz-utils, binutils", e);
        }
        using (process)
        {
            var tail = new Queue<string>();
            var output = new StringBuilder();
            var gate = new Lock();
            void Take(string? line)
            {
                if (line is null) return;
                lock (gate)
                {
                    output.AppendLine(line);
                    if (output.Length > 1 << 16) output.Remove(0, output.Length - (1 << 15));
                    tail.Enqueue(line);
                    if (tail.Count > 20) tail.Dequeue();
                    onLine?.Invoke(line);
                }
            }
            process.OutputDataReceived += (_, e) => Take(e.Data);
            process.ErrorDataReceived += (_, e) => Take(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            try
            {
                await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                throw;
            }
            if (process.ExitCode != 0)
                throw new SandboxException(SandboxErrorCode.Unavailable,
                    $"{program} {string.Join(' ', args)} failed with exit code {process.ExitCode}:\n{string.Join('\n', tail)}");
            return output.ToString();
        }
    }

    private static string ReadFragment()
    {
        using var stream = typeof(MinimalKernelBuilder).Assembly.GetManifestResourceStream("sandbox-guest.config")
            ?? throw new SandboxException(SandboxErrorCode.Internal, "the embedded kernel/sandbox-guest.config is missing from Sandbox.Isolation");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
