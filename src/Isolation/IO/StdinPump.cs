using System.Net.Sockets;

namespace Sandbox.Isolation.IO;

/// <summary>Copies the caller's stdin into the sandbox and closes the write side at end of stream, so the process
/// sees EOF. A process that exits without reading stdin ends the copy quietly.</summary>
internal static class StdinPump
{
    public static async Task PumpAsync(Stream source, Socket destination, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var n = await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (n == 0)
                    break;
                await destination.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            }
            destination.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException or IOException)
        {
            // The process is gone or the run was cancelled: nothing more to deliver.
        }
    }
}
