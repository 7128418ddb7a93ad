using System.CommandLine;
using Grpc.Core;
using Sandbox.Cli;
using Sandbox.Cli.Commands.Remote;
using Sandbox.Cli.Parsing;
using Sandbox.Cli.Terminal;

// `sandbox --version` answers before anything else is built (the command tree, the console streams' writers): a
// script that asks for it should not wait for the rest.
if (args is ["--version"])
{
    StdStreams.Out.Write(System.Text.Encoding.UTF8.GetBytes(CliVersion.Text + "\n"));
    return 0;
}

// The `sandbox` command: the commands are registered in CommandTable (only the invoked one's subtree is built). A
// command that runs a program registers itself with PositionalStop (docker's rule: flags end at the program). Every
// failure ends as a one-line message and a documented exit code (ExitCodes); no stack trace ever reaches the user.
// No ProcessTerminationTimeout: the commands handle SIGINT/SIGTERM themselves (forwarded to the workload, not an exit).
var configuration = new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null, Output = StdStreams.OutText, Error = StdStreams.ErrText };
try
{
    // A known command that parses cleanly runs under a plain root (CommandTable.TryParseLean says why); help, root flags
    // and every parse error take the full RootCommand below.
    if (CommandTable.TryParseLean(args) is { } lean)
        return await lean.InvokeAsync(configuration);
    var root = new RootCommand("Sandbox: run untrusted code in a container or a microVM, chosen by policy.");
    CommandTable.AddTo(root, args);
    if (args.Length == 0)
        args = ["--help"];
    var parse = root.Parse(PositionalStop.Normalize(root, args));
    if (parse.Errors.Count > 0)
    {
        foreach (var error in parse.Errors)
            StdStreams.Error(error.Message);
        StdStreams.Error($"see 'sandbox {string.Join(' ', parse.CommandResult.Command == root ? [] : new[] { parse.CommandResult.Command.Name })} --help'".Replace("  ", " "));
        return ExitCodes.Usage;
    }
    return await parse.InvokeAsync(configuration);
}
catch (UsageException e)
{
    StdStreams.Error(e.Message);
    return ExitCodes.Usage;
}
catch (RpcException e)
{
    return Sandboxd.Report(e, null);
}
catch (Exception e) when (e is IOException or UnauthorizedAccessException)
{
    StdStreams.Error(e.Message);
    return 1;
}
catch (Exception e)
{
    StdStreams.Error($"internal error ({e.GetType().Name}): {e.Message}");
    return ExitCodes.SandboxError;
}
