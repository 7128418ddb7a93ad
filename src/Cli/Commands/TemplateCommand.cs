using System.CommandLine;
using Sandbox.Isolation;
using Sandbox.Isolation.MicroVm;

namespace Sandbox.Cli.Commands;

/// <summary>`sandbox template build [--memory SIZE] [--rootfs DIR]`: builds the microVM snapshot template that
/// sandboxes with these limits and this rootfs restore from (it is otherwise built on first use), with progress.</summary>
public static class TemplateCommand
{
    public static Command Create()
    {
        var template = new Command("template", "MicroVM snapshot templates (fast start)");
        var build = new Command("build", "Boot the template machine once and save it, ahead of the first microVM sandbox");
        var memory = new Option<string?>("--memory", "-m") { Description = "The sandboxes' memory limit (e.g. 256m; guest RAM is this plus the guest overhead)" };
        var rootfs = new Option<string?>("--rootfs") { Description = "A directory root file system (default: the host's userland)" };
        build.Options.Add(memory);
        build.Options.Add(rootfs);
        build.SetAction(async (parse, cancellationToken) =>
        {
            var limits = ResourceLimits.Default;
            if (parse.GetValue(memory) is { } m) limits = limits with { MemoryMiB = Units.ParseMiB(m, "--memory", 16) };
            var spec = new SandboxSpec
            {
                Limits = limits,
                Rootfs = parse.GetValue(rootfs) is { } r ? RootfsSpec.Directory(Path.GetFullPath(r)) : RootfsSpec.Host,
            };
            try
            {
                var driver = new MicroVmDriver();
                var availability = await driver.ProbeAsync(cancellationToken);
                if (!availability.Available)
                {
                    Console.Error.WriteLine($"sandbox: the microVM tier is unavailable: {availability.Detail}");
                    return 1;
                }
                var built = await driver.BuildTemplateAsync(spec, line => Console.Error.WriteLine(line), cancellationToken);
                Console.WriteLine(built.Directory);
                return 0;
            }
            catch (SandboxException e)
            {
                Console.Error.WriteLine($"sandbox: {e.Message}");
                return 1;
            }
        });
        template.Subcommands.Add(build);
        return template;
    }
}
