using System.CommandLine;
using Sandbox.Cli.Commands;
using Sandbox.Cli.Commands.Remote;
using Sandbox.Cli.Parsing;

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

    /// <summary>The usual invocation, a known command whose arguments parse cleanly, parsed under a plain root command;
    /// null for everything else (help, a root flag, an unknown command or flag, any parse error), which then goes through
    /// the full <see cref="RootCommand"/> (Program.cs) and prints exactly what it always printed. RootCommand's
    /// constructor is what a short command cannot afford in a NativeAOT process: it names the executable through
    /// Assembly.GetEntryAssembly() and builds its help and version options, whose descriptions load the library's
    /// resources; each sets up the reflection runtime (README "Benchmarks": a sixth of `sandbox run`'s client CPU with
    /// gRPC's user agent). Help aliases are not known here, so one before a program (`sandbox run -h`) is an unknown
    /// flag and takes the full path; after it (`sandbox run df -h`) it is the program's. A command without a program
    /// (ps, rm, ...) takes the full path whenever a help alias appears at all (`rm /h` is help there, not an id).</summary>
    public static ParseResult? TryParseLean(string[] args)
    {
        if (args.Length == 0 || All.FirstOrDefault(c => c.Name == args[0]) is not { Create: { } create })
            return null;
        var command = create();
        if (!PositionalStop.IsRegistered(command) && args.Any(HelpAliases.Contains))
            return null;
        var root = new Command("sandbox") { command };
        try
        {
            var parse = root.Parse(PositionalStop.Normalize(root, args));
            return parse.Errors.Count == 0 ? parse : null;
        }
        catch (UsageException)
        {
            return null;
        }
    }

    /// <summary>System.CommandLine's HelpOption names.</summary>
    private static readonly string[] HelpAliases = ["--help", "-h", "/h", "-?", "/?"];
}
