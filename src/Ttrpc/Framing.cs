using System.Buffers;
using System.Buffers.Binary;

namespace Sandbox.Ttrpc;

/// <summary>ttrpc message types (frame byte 8).</summary>
public static class TtrpcMessageType
{
    public const byte Request = 0x01;
    public const byte Response = 0x02;
    public const byte Data = 0x03;
}

/// <summary>The 10-byte frame header: length (u32 BE), stream id (u32 BE), type (u8), flags (u8).</summary>
public readonly record struct FrameHeader(uint Length, uint StreamId, byte Type, byte Flags)
{
    public const int Size = 10;

    /// <summary>4 MiB: the largest data length either side may send or accept.</summary>
    public const int MaxDataLength = 4 << 20;

    public bool IsOversize => Length > MaxDataLength;

    public void WriteTo(Span<byte> destination)
    {
        if (destination.Length < Size) throw new ArgumentException("header needs 10 bytes", nameof(destination));
        BinaryPrimitives.WriteUInt32BigEndian(destination, Length);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], StreamId);
        destination[8] = Type;
        destination[9] = Flags;
    }

    public static FrameHeader Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size) throw new ArgumentException("header needs 10 bytes", nameof(source));
        return new FrameHeader(
            BinaryPrimitives.ReadUInt32BigEndian(source),
            BinaryPrimitives.ReadUInt32BigEndian(source[4..]),
            source[8],
            source[9]);
    }
}

/// <summary>One received frame. <see cref="Oversize"/>: the peer announced more than 4 MiB; the data was discarded.</summary>
public sealed class Frame
{
    public Frame(FrameHeader header, ReadOnlyMemory<byte> data, bool oversize)
    {
        Header = header;
        Data = data;
        Oversize = oversize;
    }

    public FrameHeader Header { get; }
    public ReadOnlyMemory<byte> Data { get; }
    public bool Oversize { get; }
}

public static class TtrpcFraming
{
    /// <summary>Encodes one whole frame (header + data). Refuses data over 4 MiB.</summary>
    public static byte[] Encode(uint streamId, byte type, byte flags, ReadOnlySpan<byte> data)
    {
        if (data.Length > FrameHeader.MaxDataLength)
        {
            throw new TtrpcException(StatusCode.ResourceExhausted,
                $"message length {data.Length} exceed maximum message size of {FrameHeader.MaxDataLength}");
        }
        var frame = new byte[FrameHeader.Size + data.Length];
        new FrameHeader((uint)data.Length, streamId, type, flags).WriteTo(frame);
        data.CopyTo(frame.AsSpan(FrameHeader.Size));
        return frame;
    }

    /// <summary>
    /// Parses one frame from the start of <paramref name="buffer"/>. Returns false when more bytes are needed.
    /// An oversize frame is consumed whole (its data dropped) and returned with Oversize = true.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> buffer, out Frame? frame, out long consumed)
    {
        frame = null;
        consumed = 0;
        if (buffer.Length < FrameHeader.Size) return false;
        var header = FrameHeader.Read(buffer);
        long total = FrameHeader.Size + (long)header.Length;
        if (buffer.Length < total) return false;
        consumed = total;
        frame = header.IsOversize
            ? new Frame(header, ReadOnlyMemory<byte>.Empty, oversize: true)
            : new Frame(header, buffer.Slice(FrameHeader.Size, (int)header.Length).ToArray(), oversize: false);
        return true;
    }
}

/// <summary>Reads frames from a stream. Not thread-safe: one reader loop per connection.</summary>
public sealed class FrameReader
{
    private readonly Stream _stream;
    private readonly byte[] _header = new byte[FrameHeader.Size];

    public FrameReader(Stream stream) => _stream = stream ?? throw new ArgumentNullException(nameof(stream));

    /// <summary>
    /// The next frame, or null on a clean end of stream (between frames). A stream that ends inside a frame
    /// throws <see cref="TtrpcProtocolException"/>. Oversize frames are read and discarded, then returned with
    /// Oversize = true so the caller can answer RESOURCE_EXHAUSTED on that stream.
    /// </summary>
    public async ValueTask<Frame?> ReadFrameAsync(CancellationToken cancellationToken = default)
    {
        int got = 0;
        while (got < FrameHeader.Size)
        {
            int n = await _stream.ReadAsync(_header.AsMemory(got), cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                if (got == 0) return null;
                throw new TtrpcProtocolException("connection closed inside a frame header");
            }
            got += n;
        }
        var header = FrameHeader.Read(_header);
        if (header.IsOversize)
        {
            await DiscardAsync(header.Length, cancellationToken).ConfigureAwait(false);
            return new Frame(header, ReadOnlyMemory<byte>.Empty, oversize: true);
        }
        if (header.Length == 0) return new Frame(header, ReadOnlyMemory<byte>.Empty, oversize: false);
        var data = new byte[header.Length];
        try
        {
            await _stream.ReadExactlyAsync(data, cancellationToken).ConfigureAwait(false);
        }
        catch (EndOfStreamException e)
        {
            throw new TtrpcProtocolException("connection closed inside a frame", e);
        }
        return new Frame(header, data, oversize: false);
    }

    private async ValueTask DiscardAsync(uint length, CancellationToken cancellationToken)
    {
        var scratch = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            long left = length;
            while (left > 0)
            {
                int n = await _stream.ReadAsync(scratch.AsMemory(0, (int)Math.Min(left, scratch.Length)), cancellationToken)
                    .ConfigureAwait(false);
                if (n == 0) throw new TtrpcProtocolException("connection closed inside an oversize frame");
                left -= n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }
}

/// <summary>Writes whole frames; concurrent writers are serialized so every frame goes out atomically.</summary>
#pragma warning disable CA1001 // the semaphore holds no unmanaged resource here (no AvailableWaitHandle use)
public sealed class FrameWriter
#pragma warning restore CA1001
{
    private readonly Stream _stream;
    private readonly SemaphoreSlim _lock = new(1, 1);

    public FrameWriter(Stream stream) => _stream = stream ?? throw new ArgumentNullException(nameof(stream));

    public async ValueTask WriteAsync(uint streamId, byte type, byte flags, ReadOnlyMemory<byte> data,
        CancellationToken cancellationToken = default)
    {
        if (data.Length > FrameHeader.MaxDataLength)
        {
            throw new TtrpcException(StatusCode.ResourceExhausted,
                $"message length {data.Length} exceed maximum message size of {FrameHeader.MaxDataLength}");
        }
        int total = FrameHeader.Size + data.Length;
        var buffer = ArrayPool<byte>.Shared.Rent(total);
        try
        {
            new FrameHeader((uint)data.Length, streamId, type, flags).WriteTo(buffer);
            data.Span.CopyTo(buffer.AsSpan(FrameHeader.Size));
            await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await _stream.WriteAsync(buffer.AsMemory(0, total), CancellationToken.None).ConfigureAwait(false);
                await _stream.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            }
            finally
            {
                _lock.Release();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
