using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;

namespace Sandbox.SandboxApi.Hosting;

/// <summary>SIGUSR2 asks sandboxd to stop for a restart: it exits as on SIGTERM but leaves its long-lived sandboxes
/// running for the next sandboxd to re-attach (Core's RestartRecovery), as a crash would. systemd/sandboxd-stop
/// sends it when the stop is part of `systemctl restart`; SIGTERM (`systemctl stop`, a plain kill) still deletes every
/// sandbox. A SIGTERM that follows (systemd's, after ExecStop) does not undo the request.</summary>
public sealed class RestartSignal(IHostApplicationLifetime lifetime) : IHostedService, IDisposable
{
    private const int SIGUSR2 = 12;
    private PosixSignalRegistration? _registration;
    private int _requested;

    public bool Requested => Volatile.Read(ref _requested) != 0;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _registration = PosixSignalRegistration.Create((PosixSignal)SIGUSR2, context =>
        {
            context.Cancel = true;
            Interlocked.Exchange(ref _requested, 1);
            lifetime.StopApplication();
        });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _registration?.Dispose();
}
