using CsCheck;
using Sandbox.Ttrpc.Protocol;

namespace Sandbox.Ttrpc.Tests;

public class FramePropertyTests
{
    /// <summary>A stream that hands out its bytes in random-sized pieces.</summary>
    private sealed class ChunkedStream(byte[] data, int seed) : Stream
    {
        private readonly Random _rnd = new(seed);
        private int _pos;
        public override int Read(byte[] buffer, int offset, int count)
        {
            int n = Math.Min(Math.Min(count, data.Length - _pos), _rnd.Next(1, 17));
            if (n <= 0) return 0;
            Array.Copy(data, _pos, buffer, offset, n);
            _pos += n;
            return n;
        }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _pos; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private static readonly Gen<byte[]> SmallFrames =
        Gen.Select(Gen.UInt, Gen.Byte, Gen.Byte, Gen.Byte.Array[0, 300])
            .Select((id, type, flags, data) => TtrpcFraming.Encode(id, type, flags, data))
            .Array[0, 8]
            .Select(frames => frames.SelectMany(f => f).ToArray());

    [Fact]
    public void RandomBytes_NeverCrashTheReader()
    {
        Gen.Byte.Array[0, 200].Sample(bytes =>
        {
            var reader = new FrameReader(new ChunkedStream(bytes, bytes.Length));
            try
            {
                while (reader.ReadFrameAsync().AsTask().GetAwaiter().GetResult() is { } frame)
                {
                    Assert.True(frame.Oversize || frame.Data.Length == frame.Header.Length);
                    if (!frame.Oversize && frame.Header.Type == TtrpcMessageType.Request)
                    {
                        try { Request.Parser.ParseFrom(frame.Data.Span); } catch (Google.Protobuf.InvalidProtocolBufferException) { }
                    }
                }
            }
            catch (TtrpcProtocolException)
            {
                // truncated frame: the only failure allowed
            }
        }, iter: 5000);
    }

    [Fact]
    public void RandomBytes_NeverCrashTryParse()
    {
        Gen.Byte.Array[0, 64].Sample(bytes =>
        {
            ReadOnlySpan<byte> rest = bytes;
            while (TtrpcFraming.TryParse(rest, out var frame, out var consumed))
            {
                Assert.NotNull(frame);
                Assert.InRange(consumed, FrameHeader.Size, rest.Length);
                rest = rest[(int)consumed..];
            }
        }, iter: 5000);
    }

    [Fact]
    public void EncodedFrames_ParseBackIdentically_WhateverTheChunking()
    {
        SmallFrames.Select(Gen.Int).Sample((bytes, seed) =>
        {
            var reader = new FrameReader(new ChunkedStream(bytes, seed));
            var output = new List<byte>();
            while (reader.ReadFrameAsync().AsTask().GetAwaiter().GetResult() is { } frame)
            {
                output.AddRange(TtrpcFraming.Encode(frame.Header.StreamId, frame.Header.Type, frame.Header.Flags, frame.Data.Span));
            }
            Assert.Equal(bytes, output.ToArray());
        }, iter: 500);
    }

    [Fact]
    public async Task RandomBytes_NeverCrashTheServer()
    {
        var server = new TtrpcServer();
        server.Register<KeyValue, KeyValue>("s", "m", KeyValue.Parser, (r, _) => ValueTask.FromResult(r));
        var random = new Random(7);
        for (int i = 0; i < 200; i++)
        {
            var bytes = new byte[random.Next(0, 400)];
            random.NextBytes(bytes);
            if (bytes.Length > 0) bytes[0] = 0; // keep lengths small enough not to wait for megabytes
            var (a, b) = SocketPair.Create();
            var serving = server.ServeConnectionAsync(b);
            await a.WriteAsync(bytes);
            a.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
            var drain = a.CopyToAsync(Stream.Null);
            await serving.WaitAsync(TimeSpan.FromSeconds(10)); // completes, never throws
            await b.DisposeAsync();
            await drain.WaitAsync(TimeSpan.FromSeconds(10));
            await a.DisposeAsync();
        }
    }
}
