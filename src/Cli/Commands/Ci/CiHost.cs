using Microsoft.Extensions.Logging.Abstractions;
using Sandbox.CiRunner.Execution;
using Sandbox.Core;
using Sandbox.Isolation.Container;
using Sandbox.Isolation.MicroVm;
using Sandbox.Policy;

namespace Sandbox.Cli.Commands.Ci;

/// <summary>Where `sandbox ci` gets job sandboxes, as the CLI's other verbs choose: sandboxd (its policy and tenant;
/// every job's sandbox deleted by the runner, Ctrl-C included), or with --local Core in this process (as `sandbox run
/// --local`: embedded sandbox policy, tenant "local", this host's drivers; every sandbox also removed when the command
/// ends).</summary>
internal sealed class CiHost : IAsyncDisposable
{
    private readonly SandboxCore? _core;

    private CiHost(IJobSandboxHost host, SandboxCore? core)
    {
        Host = host;
        _core = core;
    }

    public IJobSandboxHost Host { get; }

    public static CiHost Create(bool local, string? socket)
    {
        if (!local)
            return new CiHost(new RemoteJobHost(Remote.Sandboxd.Connect(socket)), null);
        var core = SandboxCore.Create(new SandboxCoreOptions(),
            EmbeddedPolicyEngine.CreateDefault(new HostCeilings(), NullLogger<EmbeddedPolicyEngine>.Instance),
            [new BubblewrapDriver(new BubblewrapOptions { AgentDirectory = AgentDirectory.FromEnvironment() }),
                new MicroVmDriver(new MicroVmOptions { AgentDirectory = AgentDirectory.FromEnvironment() })]);
        return new CiHost(new CoreJobHost(core, new Principal(LocalRun.Tenant, "uid:" + Environment.UserName)), core);
    }

    public async ValueTask DisposeAsync()
    {
        if (_core is null) return;
        await _core.Sandboxes.RemoveAllAsync().ConfigureAwait(false);
        await _core.DisposeAsync().ConfigureAwait(false);
    }
}
