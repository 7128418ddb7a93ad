using System.CommandLine;
using Sandbox.Isolation.Images;

namespace Sandbox.Cli.Commands.Images;

/// <summary>`sandbox image build --debian SUITE --name NAME [--packages a,b]`: a Debian base image from the host's
/// configured apt mirror (mmdebstrap), for users without any registry. Cached by suite, packages and mirror.</summary>
public static class ImageBuildCommand
{
    public static Command Create()
    {
        var command = new Command("build", "Build a Debian base image with mmdebstrap from this machine's apt mirror");
        var debian = new Option<string>("--debian") { Description = "The Debian suite (bookworm)", Required = true };
        var name = new Option<string>("--name") { Description = "NAME[:TAG] of the image", Required = true };
        var packages = new Option<string?>("--packages") { Description = "Extra packages, comma-separated (a,b,c)" };
        command.Options.Add(debian);
        command.Options.Add(name);
        command.Options.Add(packages);
        command.SetAction((parse, cancellationToken) => ImageCommand.Run(parse, async (store, progress) =>
        {
            var list = (parse.GetValue(packages) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var record = await new DebianImageBuilder(store).BuildAsync(parse.GetValue(debian)!, list, parse.GetValue(name)!, progress, cancellationToken);
            Console.WriteLine(record.Id);
        }));
        return command;
    }
}
