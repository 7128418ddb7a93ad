using Microsoft.Extensions.Logging.Abstractions;
using Sandbox.Core;
using Sandbox.Isolation;
using Sandbox.Isolation.Container;
using Sandbox.Isolation.MicroVm;
using Sandbox.Policy;

namespace Sandbox.Cli.Commands;

/// <summary>`sandbox run --local`: the same Core as sandboxd, in this process, with the embedded default policy bundle
/// (tenant "local") and this host's drivers. Nothing is persisted and the sandbox dies with the CLI.</summary>
internal static class LocalRun
{
    public const string Tenant = "local";

    public static async Task<int> RunAsync(SandboxRequest request, ProcessSpec process, bool interactive, CancellationToken cancellationToken)
    {
        await using var core = SandboxCore.Create(new SandboxCoreOptions(), EmbeddedPolicyEngine.CreateDefault(new HostCeilings(), NullLogger<EmbeddedPolicyEngine>.Instance),
            [new BubblewrapDriver(new BubblewrapOptions { AgentDirectory = AgentDirectory.FromEnvironment() }),
                new MicroVmDriver(new MicroVmOptions { AgentDirectory = AgentDirectory.FromEnvironment() })]);
        var principal = new Principal(Tenant, "uid:" + Environment.UserName);
        var io = new ProcessIO
        {
            Stdin = interactive ? Console.OpenStandardInput() : null,
            Stdout = Console.OpenStandardOutput(),
            Stderr = Console.OpenStandardError(),
        };
        var limits = Isolation.ResourceLimits.Default;
        try
        {
            var status = await core.Sandboxes.RunAsync(principal, request, process, io, s =>
            {
                limits = s.Limits;
                return Task.CompletedTask;
            }, cancellationToken);
            if (status.TimedOut)
            {
                await Console.Error.WriteLineAsync($"sandbox: timed out after {(process.Timeout ?? limits.WallTime)?.TotalSeconds:0.###} s");
                return ExitCodes.Timeout;
            }
            if (status.OomKilled)
            {
                await Console.Error.WriteLineAsync($"sandbox: killed by the OOM killer (memory limit {limits.MemoryMiB} MiB)");
                return ExitCodes.OutOfMemory;
            }
            if (status.OutputTruncated)
                await Console.Error.WriteLineAsync($"sandbox: output truncated at {limits.OutputBytes} bytes per stream");
            return status.ExitCode;
        }
        catch (SandboxException e)
        {
            await Console.Error.WriteLineAsync($"sandbox: {e.Message}");
            return e.Code == SandboxErrorCode.NotFound ? ExitCodes.NotFound : ExitCodes.SandboxError;
        }
    }
}
