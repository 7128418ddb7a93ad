using Grpc.Core;

namespace Sandbox.Api.V1;

/// <summary>The generated method descriptors a caller needs to call a channel's own invoker. A generated client wraps
/// that invoker in an intercepting one (for its WithHost option), and under NativeAOT each of the three generic virtual
/// hops that adds to a call builds its generic dictionary at run time, on every process's first call: the CLI's one-shot
/// `sandbox run` calls the invoker itself (src/Cli, RunInvoker).</summary>
public static partial class Sandboxes
{
    public static Method<RunRequest, ExecEvent> RunMethod => __Method_Run;
}
