using System.CommandLine;
using Sandbox.Isolation;
using Sandbox.Isolation.MicroVm;
using Sandbox.Isolation.MicroVm.Kernel;
using Spectre.Console;

namespace Sandbox.Cli.Commands;

/// <summary>`sandbox kernel build [--jobs N] [--work-dir DIR] [--keep-tree] [--cache-dir DIR]`: builds the microVM tier's optional
/// minimal guest kernel from Debian's linux-source-6.1 and kernel/sandbox-guest.config, with a progress bar per stage
/// (on stderr; plain lines when stderr is not a terminal), and prints the installed vmlinux. Once built, new microVM
/// sandboxes boot it (Debian's kernel stays the default until then). `sandbox kernel status` says which kernel the tier
/// boots.</summary>
public static class KernelCommand
{
    public static Command Create()
    {
        var kernel = new Command("kernel", "The microVM tier's guest kernel");
        kernel.Subcommands.Add(Build());
        kernel.Subcommands.Add(Status());
        return kernel;
    }

    private static Command Build()
    {
        var build = new Command("build", "Build the minimal guest kernel (from Debian's linux-source-6.1; minutes) and make the microVM tier boot it");
        var jobs = new Option<int>("--jobs", "-j") { Description = "Parallel compile jobs (default: the number of CPUs)" };
        var work = new Option<string?>("--work-dir") { Description = "Where the source tree is unpacked and built (default: <kernel cache>/minimal/build)" };
        var keep = new Option<bool>("--keep-tree") { Description = "Keep the ~1.6 GB source and object tree (a later build of a changed config is incremental)" };
        var source = new Option<string>("--source") { Description = "The kernel source tarball", DefaultValueFactory = _ => MinimalKernelBuilder.DefaultSourceTarball };
        // Another cache than the tier's: a build to compare against the installed one (benches take SANDBOX_KERNEL_DIR)
        // without changing what the tier boots.
        var cache = new Option<string>("--cache-dir")
        {
            Description = "The kernel cache to install into (default: the tier's, /var/cache/sandbox/kernel; another one is not booted by the tier)",
            DefaultValueFactory = _ => new MicroVmOptions().KernelCacheDirectory,
        };
        build.Options.Add(jobs);
        build.Options.Add(work);
        build.Options.Add(keep);
        build.Options.Add(source);
        build.Options.Add(cache);
        build.SetAction(async (parse, cancellationToken) =>
        {
            var jobCount = parse.GetValue(jobs);
            if (jobCount < 0)
            {
                Console.Error.WriteLine($"sandbox: --jobs {jobCount} must be 0 (one per CPU) or more");
                return 2;
            }
            var cacheDir = Path.GetFullPath(parse.GetValue(cache)!);
            var builder = new MinimalKernelBuilder(cacheDir, parse.GetValue(source)!);
            var workDir = parse.GetValue(work) is { } w ? Path.GetFullPath(w) : null;
            try
            {
                if (builder.TryGetBuilt() is { } ready)
                {
                    await builder.BuildAsync(jobCount, workDir, parse.GetValue(keep), null, cancellationToken); // points current at it
                    Console.Error.WriteLine($"sandbox: the minimal kernel {ready.Version} is already built");
                    Console.WriteLine(ready.VmlinuxPath);
                    return 0;
                }
                var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
                GuestKernel built;
                if (console.Profile.Capabilities.Interactive)
                    built = await WithBarsAsync(console, progress => builder.BuildAsync(jobCount, workDir, parse.GetValue(keep), progress, cancellationToken));
                else
                    built = await builder.BuildAsync(jobCount, workDir, parse.GetValue(keep), new PlainLines(), cancellationToken);
                Console.Error.WriteLine(cacheDir == new MicroVmOptions().KernelCacheDirectory
                    ? $"sandbox: built the minimal kernel {built.Version}; new microVM sandboxes boot it"
                    : $"sandbox: built the minimal kernel {built.Version} into {cacheDir}, not the tier's cache (the benches take SANDBOX_KERNEL_DIR={cacheDir})");
                Console.WriteLine(built.VmlinuxPath);
                return 0;
            }
            catch (SandboxException e)
            {
                Console.Error.WriteLine($"sandbox: {e.Message}");
                return 1;
            }
            catch (UnauthorizedAccessException e)
            {
                Console.Error.WriteLine($"sandbox: {e.Message} (the kernel cache is root's)");
                return 1;
            }
        });
        return build;
    }

    private static Command Status()
    {
        var status = new Command("status", "Say which guest kernel the microVM tier boots");
        status.SetAction(_ =>
        {
            var options = new MicroVmOptions();
            try
            {
                var kernel = GuestKernel.Locate(options.KernelCacheDirectory, options.MinimalKernel);
                Console.WriteLine($"{(kernel.IsMinimal ? "minimal" : "debian")}\t{kernel.Version}\t{kernel.VmlinuxPath}");
                return 0;
            }
            catch (SandboxException e)
            {
                Console.Error.WriteLine($"sandbox: {e.Message}");
                return 1;
            }
        });
        return status;
    }

    /// <summary>One Spectre.Console bar per stage, the last line make printed as the compile bar's label.</summary>
    private static async Task<GuestKernel> WithBarsAsync(IAnsiConsole console, Func<IProgress<KernelBuildProgress>, Task<GuestKernel>> build)
    {
        GuestKernel? result = null;
        await console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async context =>
            {
                var tasks = Enum.GetValues<KernelBuildStage>().ToDictionary(s => s, s => context.AddTask(Describe(s, ""), autoStart: false, maxValue: 1));
                var progress = new SynchronousProgress(p =>
                {
                    var task = tasks[p.Stage];
                    if (!task.IsStarted) task.StartTask();
                    foreach (var earlier in tasks.Where(t => t.Key < p.Stage && !t.Value.IsFinished))
                        earlier.Value.Value = 1;
                    task.Value = p.Fraction;
                    task.Description = Describe(p.Stage, p.Detail);
                });
                result = await build(progress);
                foreach (var task in tasks.Values)
                    task.Value = 1;
            });
        return result!;
    }

    private static string Describe(KernelBuildStage stage, string detail)
    {
        var label = stage.ToString().ToLowerInvariant().PadRight(10);
        var text = detail.Length > 48 ? "…" + detail[^47..] : detail;
        return Markup.Escape($"{label} {text}".TrimEnd());
    }

    /// <summary>Reports on the caller's thread (Progress&lt;T&gt; would post to the thread pool, out of order).</summary>
    private sealed class SynchronousProgress(Action<KernelBuildProgress> report) : IProgress<KernelBuildProgress>
    {
        public void Report(KernelBuildProgress value) => report(value);
    }

    /// <summary>Without a terminal: one line per stage change and per tenth of the compile.</summary>
    private sealed class PlainLines : IProgress<KernelBuildProgress>
    {
        private KernelBuildStage? _stage;
        private int _tenth = -1;

        public void Report(KernelBuildProgress value)
        {
            var tenth = (int)(value.Fraction * 10);
            if (value.Stage == _stage && tenth == _tenth) return;
            _stage = value.Stage;
            _tenth = tenth;
            Console.Error.WriteLine($"kernel build: {value.Stage.ToString().ToLowerInvariant()} {value.Fraction:P0} {value.Detail}");
        }
    }
}
