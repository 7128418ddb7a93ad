using System.Net.Sockets;
using System.Text;

namespace Sandbox.Isolation.IO;

/// <summary>Keeps the last few KiB written to a socket: the launcher's and the agent's own stderr, quoted in errors.</summary>
internal sealed class TailBuffer
{
    private const int Capacity = 8 * 1024;
    private readonly Lock _lock = new();
    private readonly byte[] _buffer = new byte[Capacity];
    private int _length;

    public Task PumpAsync(Socket source) => Task.Run(async () =>
    {
        var chunk = new byte[4096];
        try
        {
            while (true)
            {
                var n = await source.ReceiveAsync(chunk, SocketFlags.None).ConfigureAwait(false);
                if (n == 0)
                    return;
                Append(chunk.AsSpan(0, n));
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    });

    private void Append(ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            if (data.Length >= Capacity)
            {
                data[^Capacity..].CopyTo(_buffer);
                _length = Capacity;
                return;
            }
            var keep = Math.Min(_length, Capacity - data.Length);
            Buffer.BlockCopy(_buffer, _length - keep, _buffer, 0, keep);
            data.CopyTo(_buffer.AsSpan(keep));
            _length = keep + data.Length;
        }
    }

    public override string ToString()
    {
        lock (_lock)
            return Encoding.UTF8.GetString(_buffer, 0, _length).Trim();
    }
}
