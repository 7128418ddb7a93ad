using System.Net.Sockets;

namespace Sandbox.Isolation.IO;

/// <summary>Delivers one output stream up to a byte cap; past the cap it keeps draining (so the writer never blocks
/// forever) but drops the data and remembers that it did.</summary>
internal sealed class OutputCap(Stream? destination, long capBytes)
{
    private long _delivered;

    public bool Truncated { get; private set; }

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        var room = capBytes - _delivered;
        if (data.Length > room)
        {
            Truncated = true;
            data = data[..(int)Math.Max(0, room)];
        }
        if (data.Length == 0)
            return;
        _delivered += data.Length;
        if (destination is not null)
        {
            await destination.WriteAsync(data, cancellationToken).ConfigureAwait(false);
            await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Copies a socket to the destination until end of stream.</summary>
    public async Task PumpAsync(Socket source, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        while (true)
        {
            int n;
            try
            {
                n = await source.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException)
            {
                return;
            }
            if (n == 0)
                return;
            await WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
        }
    }
}
