using Sandbox.KataShim.Cli;
using Sandbox.KataShim.Daemon;

namespace Sandbox.KataShim;

/// <summary>containerd-shim-sandbox-v2: `start` (find or spawn the daemon, print its address), `delete` (clean up after
/// a task or a dead shim), or no action: the daemon serving containerd's task API.</summary>
internal static class Program
{
    public const string VersionText = "containerd-shim-sandbox-v2 (Sandbox) runtime io.containerd.sandbox.v2, task API v2/v3 over ttrpc";

    public static async Task<int> Main(string[] argv)
    {
        ShimArguments args;
        try
        {
            args = ShimArguments.Parse(argv);
        }
        catch (ShimUsageException e)
        {
            await Console.Error.WriteLineAsync(e.Message);
            return 1;
        }
        if (args.Version)
        {
            await Console.Out.WriteLineAsync(VersionText);
            return 0;
        }
        if (args.Info)
        {
            // containerd 2.x asks only runc-type runtimes for idmap support: there is nothing to report.
            return 0;
        }
        if (args.Namespace.Length == 0)
        {
            await Console.Error.WriteLineAsync("shim namespace cannot be empty");
            return 1;
        }
        if (args.Id.Length == 0)
        {
            await Console.Error.WriteLineAsync("shim id cannot be empty (-id)");
            return 1;
        }
        return args.Action switch
        {
            "start" => await StartCommand.RunAsync(args),
            "delete" => DeleteCommand.Run(args),
            _ when args.Socket.Length == 0 => Usage(),
            _ => await ShimDaemon.RunAsync(args),
        };
    }

    private static int Usage()
    {
        Console.Error.WriteLine("the daemon is started by `start` (with -socket); run `start` or `delete`");
        return 1;
    }
}
