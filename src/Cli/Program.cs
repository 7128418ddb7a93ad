using System.CommandLine;
using Sandbox.Cli.Commands;

var root = new RootCommand("Sandbox: run untrusted code in a container or a microVM, chosen by policy.");
root.Subcommands.Add(RunCommand.Create());
foreach (var command in Sandbox.Cli.Commands.Remote.SandboxCommands.Create())
    root.Subcommands.Add(command);
root.Subcommands.Add(DoctorCommand.Create());
root.Subcommands.Add(TemplateCommand.Create());
// subcommands:
root.Subcommands.Add(Sandbox.Cli.Commands.Policy.PolicyCommand.Create());
root.Subcommands.Add(Sandbox.Cli.Commands.Ci.CiCommand.Create());

return await root.Parse(args).InvokeAsync();
