using System.CommandLine;
using Sandbox.Isolation.Container;
using Sandbox.Isolation.Host;
using Sandbox.Isolation.MicroVm;
using Spectre.Console;

namespace Sandbox.Cli.Commands;

/// <summary>`sandbox doctor`: what this host supports, as a table; exit 1 when a required piece is missing.</summary>
public static class DoctorCommand
{
    private static readonly HashSet<string> s_optional = ["kvm", "qemu"];

    public static Command Create()
    {
        var doctor = new Command("doctor", "Check what this host supports");
        doctor.SetAction(_ =>
        {
            var agent = AgentDirectory.FromEnvironment();
            var checks = HostProbe.Run(new BubblewrapOptions { AgentDirectory = agent }, new MicroVmOptions { AgentDirectory = agent });
            var table = new Table().AddColumn("check").AddColumn("status").AddColumn("detail");
            foreach (var check in checks)
            {
                var status = check.Ok ? "[green]ok[/]" : s_optional.Contains(check.Name) ? "[yellow]no[/]" : "[red]missing[/]";
                table.AddRow(Markup.Escape(check.Name), status, Markup.Escape(check.Detail));
            }
            AnsiConsole.Write(table);
            return checks.All(c => c.Ok || s_optional.Contains(c.Name)) ? 0 : 1;
        });
        return doctor;
    }
}
