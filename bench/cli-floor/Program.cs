using Sandbox.Api;
using Sandbox.Api.V1;
using Sandbox.Cli.Commands.Remote;

// cli-floor empty: the NativeAOT runtime's start and exit alone. cli-floor run: `sandbox run --trusted -- true` as
// the CLI makes the call (SandboxdChannel's one-shot channel, RunInvoker), its events read to the exit; nothing else.
// cli-floor run-one-worker: the same with the thread pool held to one worker (what the second and third workers that a
// run starts cost; the pool's gate thread still starts).
if (args is ["empty"])
    return 0;
if (args is ["run-one-worker"] && !(ThreadPool.SetMinThreads(1, 1) && ThreadPool.SetMaxThreads(1, 1)))
    return 2;
CompiledArrayTypes.Keep();
using var channel = SandboxdChannel.ForUnixSocket(SandboxdChannel.ResolveSocketPath(null), singleCall: true);
using var call = RunInvoker.Start(channel);
var start = new RunStart { Sandbox = new CreateSandboxRequest { Untrusted = false, CodeProvenance = "tenant", Resources = new Resources() }, Process = new ProcessStart() };
start.Process.Argv.Add("true");
await call.RequestStream.WriteAsync(new RunRequest { Start = start });
var code = -1;
while (await call.ResponseStream.MoveNext(CancellationToken.None))
{
    if (call.ResponseStream.Current.EventCase == ExecEvent.EventOneofCase.Exit)
        code = call.ResponseStream.Current.Exit.ExitCode;
}
return code;
