using System.CommandLine;
using Sandbox.Cli.Commands;
using Sandbox.Cli.Commands.Remote;

namespace Sandbox.Cli;

/// <summary>The top-level commands of `sandbox`, by name. Only the invoked command's subtree is built: `sandbox run`
/// builds no image, CI or policy options (a short command's start-up is mostly what it builds and touches). When no
/// known command comes first (help, a root flag, a typo) all are built, so root help and "unknown command" see every
/// one.</summary>
public static class CommandTable
{
    /// <summary>Each command's name (what its factory names it; a test holds the two together) and factory.</summary>
    public static IReadOnlyList<(string Name, Func<Command> Create)> All { get; } =
    [
        ("run", RunCommand.Create),
        ("create", CreateCommand.Create),
        ("exec", ExecCommand.Create),
        ("ps", PsCommand.Create),
        ("inspect", InspectCommand.Create),
        ("logs", LogsCommand.Create),
        ("stop", StopCommand.Create),
        ("rm", RmCommand.Create),
        ("cp", CpCommand.Create),
        ("doctor", DoctorCommand.Create),
        ("template", TemplateCommand.Create),
        ("kernel", KernelCommand.Create),
        ("image", Commands.Images.ImageCommand.Create),
        ("ci", Commands.Ci.CiCommand.Create),
        ("policy", Commands.Policy.PolicyCommand.Create),
    ];

    /// <summary>Adds to <paramref name="root"/> the command <paramref name="args"/> starts with, or every command.</summary>
    public static void AddTo(RootCommand root, string[] args)
    {
        foreach (var (name, create) in All)
        {
            if (args.Length == 0 || !All.Any(c => c.Name == args[0]) || name == args[0])
                root.Subcommands.Add(create());
        }
    }
}
