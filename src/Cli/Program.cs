using System.CommandLine;
using Sandbox.Cli.Commands;

var root = new RootCommand("Sandbox: run untrusted code in a container or a microVM, chosen by policy.");
root.Subcommands.Add(RunCommand.Create());
root.Subcommands.Add(DoctorCommand.Create());
// subcommands:
root.Subcommands.Add(Sandbox.Cli.Commands.Policy.PolicyCommand.Create());

return await root.Parse(args).InvokeAsync();
