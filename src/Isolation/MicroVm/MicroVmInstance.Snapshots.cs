using System.Net.Sockets;
using Sandbox.Isolation.IO;
using Sandbox.Isolation.MicroVm.Qmp;

namespace Sandbox.Isolation.MicroVm;

/// <summary>Snapshot templates of a VM: a clone's state loaded into a QEMU started with -incoming defer, and a VM saved
/// as a template (its device state; the RAM is the template's shared file).</summary>
internal sealed partial class MicroVmInstance
{
    /// <summary>Loads a template's device state into a QEMU started with -incoming defer and continues the VM. The end
    /// of the load is QEMU's MIGRATION event (the "events" capability), not a query-status poll: QEMU sends it once it
    /// has set the run state the template had when saved (paused), so `cont` can follow at once; a poll with backing-off
    /// sleeps cost a clone up to the last sleep on top of the load itself.</summary>
    private static async Task IncomingMigrationAsync(QmpClient qmp, QemuProcess qemu, TailBuffer tail, string socketPath, string statePath,
        CancellationToken cancellationToken)
    {
        try
        {
            await qmp.SetMigrationCapabilitiesAsync(["x-ignore-shared", "events"], cancellationToken).ConfigureAwait(false);
            await qmp.MigrateIncomingAsync("unix:" + socketPath, cancellationToken).ConfigureAwait(false);
        }
        catch (QmpException e)
        {
            throw new SnapshotRestoreException($"QEMU refused the incoming migration: {e.Message}", e);
        }
        // Events are queued from here on whether or not this waits yet: none is missed.
        var loaded = qmp.WaitForEventAsync("MIGRATION", e => e.Data?["status"]?.GetValue<string>() is "completed" or "failed" or "cancelled",
            cancellationToken);
        using (var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
            await using var state = new FileStream(statePath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            await state.CopyToAsync(stream, cancellationToken).ConfigureAwait(false);
            socket.Shutdown(SocketShutdown.Send);
        }
        // QEMU 7.2 exits when it cannot load the state (and its QMP connection closes with it).
        if (await Task.WhenAny(loaded, qemu.Exited).ConfigureAwait(false) != loaded || !loaded.IsCompletedSuccessfully)
        {
            await WaitBrieflyAsync(qemu.Exited).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            throw new SnapshotRestoreException(qemu.Exited.IsCompleted
                ? $"QEMU exited with {await qemu.Exited.ConfigureAwait(false)} while loading the snapshot: {tail}"
                : $"the snapshot's load ended without a result ({loaded.Exception?.InnerException?.Message ?? "no MIGRATION event"}): {tail}");
        }
        var status = (await loaded.ConfigureAwait(false)).Data?["status"]?.GetValue<string>();
        if (status != "completed")
            throw new SnapshotRestoreException($"loading the snapshot {status}: {tail}");
        // The template was saved stopped, and the clone comes up in that state; cont also leaves a running VM running.
        await qmp.ContAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Saves this VM as a snapshot template: stop, x-ignore-shared (the RAM lives in a MAP_SHARED file that clones map
    /// copy-on-write; only device state is written), migrate over a unix socket into <paramref name="statePath"/>.
    /// QEMU 7.2 has no file: migration URI, and exec: would need a shell that QEMU's seccomp sandbox forbids.
    /// The VM stays stopped (postmigrate); dispose it afterwards.
    /// </summary>
    public async Task SaveSnapshotAsync(string statePath, CancellationToken cancellationToken)
    {
        await Qmp.StopAsync(cancellationToken).ConfigureAwait(false);
        await Qmp.SetMigrationCapabilitiesAsync(["x-ignore-shared"], cancellationToken).ConfigureAwait(false);
        var socketPath = Path.Combine(_directory, "migrate.sock");
        using var listener = Listen(socketPath, _hostUid);
        await Qmp.MigrateAsync("unix:" + socketPath, cancellationToken).ConfigureAwait(false);
        using (var socket = await AcceptOrExitAsync(listener, Qemu, Console, cancellationToken).ConfigureAwait(false))
        {
            await using var state = new FileStream(statePath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            await stream.CopyToAsync(state, cancellationToken).ConfigureAwait(false);
            await state.FlushAsync(cancellationToken).ConfigureAwait(false);
            state.Flush(flushToDisk: true);
        }
        var delay = 2;
        while (true)
        {
            var status = await Qmp.QueryMigrationStatusAsync(cancellationToken).ConfigureAwait(false);
            if (status == "completed") return;
            if (status is "failed" or "cancelled")
                throw new SandboxException(SandboxErrorCode.Internal, $"saving the snapshot failed (migration {status}): {Console}");
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            delay = Math.Min(delay * 2, 50);
        }
    }
}

/// <summary>A microVM failed while its snapshot template was being loaded (QEMU refused or died on the state, or the
/// VM came up in an unexpected state): the template itself is suspect.</summary>
public sealed class SnapshotRestoreException(string message, Exception? inner = null)
    : SandboxException(SandboxErrorCode.Unavailable, message, inner);
