using Sandbox.Isolation;

namespace Sandbox.Core;

public sealed partial class SandboxService
{
    /// <summary>Moves the sandbox's TTL deadline to <paramref name="expiresAt"/> (later or earlier), within the
    /// configured maximum TTL counted from now; the state record is rewritten so a restarted owner keeps it.</summary>
    public Task<SandboxEntry> SetExpiryAsync(Principal principal, SandboxId id, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var entry = registry.Get(principal.Tenant, id);
        entry.Require(SandboxLifecycle.CanUpdate, "change the TTL of");
        var now = time.GetUtcNow();
        if (expiresAt <= now || expiresAt - now > options.MaxTtl)
            throw new SandboxException(SandboxErrorCode.InvalidArgument,
                $"ttl {(expiresAt - now).TotalSeconds:0} s is out of range [1, {options.MaxTtl.TotalSeconds:0}] s from now");
        entry.ExpiresAt = expiresAt;
        store.Save(SandboxRecords.From(entry));
        return Task.FromResult(entry);
    }

    /// <summary>The running execs of a sandbox (started through <see cref="ExecAsync"/>), oldest first.</summary>
    public IReadOnlyList<ExecRecord> ListExecs(Principal principal, SandboxId id) => registry.Get(principal.Tenant, id).Execs.List();

    /// <summary>Signals a running exec by its pid; NotFound when it has exited (or never ran here).</summary>
    public Task SignalExecAsync(Principal principal, SandboxId id, int pid, int signal, CancellationToken cancellationToken)
    {
        var entry = registry.Get(principal.Tenant, id);
        entry.Require(SandboxLifecycle.CanExec, "signal a process in");
        return entry.Execs.Get(id, pid).Process.SignalAsync(signal, cancellationToken);
    }
}
