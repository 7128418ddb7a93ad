using Microsoft.Extensions.Logging.Abstractions;
using Sandbox.CiRunner.Execution;
using Sandbox.Core;
using Sandbox.Isolation.Container;
using Sandbox.Isolation.MicroVm;
using Sandbox.Policy;

namespace Sandbox.Cli.Commands.Ci;

/// <summary>Where `sandbox ci` gets job sandboxes: Core in this process with --local (as `sandbox run --local`:
/// embedded sandbox policy, tenant "local", this host's drivers; every sandbox removed when the command ends, Ctrl-C
/// included). Without --local the jobs would go to sandboxd, which does not yet offer the tar import and export a
/// checkout and artifacts need: refused with that reason rather than run differently.</summary>
internal sealed class CiHost : IAsyncDisposable
{
    private readonly SandboxCore _core;

    private CiHost(SandboxCore core)
    {
        _core = core;
        Host = new CoreJobHost(core, new Principal(LocalRun.Tenant, "uid:" + Environment.UserName));
    }

    public IJobSandboxHost Host { get; }

    public static CiHost Create(bool local)
    {
        if (!local)
            throw new FormatException("sandbox ci through sandboxd needs tar import/export calls sandboxd does not offer yet: add --local (same policy and drivers, in this process)");
        return new CiHost(SandboxCore.Create(new SandboxCoreOptions(),
            EmbeddedPolicyEngine.CreateDefault(new HostCeilings(), NullLogger<EmbeddedPolicyEngine>.Instance),
            [new BubblewrapDriver(), new MicroVmDriver()]));
    }

    public async ValueTask DisposeAsync()
    {
        await _core.Sandboxes.RemoveAllAsync().ConfigureAwait(false);
        await _core.DisposeAsync().ConfigureAwait(false);
    }
}
