using Google.Protobuf;
using Sandbox.Ttrpc.Protocol;

namespace Sandbox.Ttrpc.Tests;

/// <summary>Golden bytes from containerd-shim.md §1.5 (captured from containerd 1.6.20 and the runc shim).</summary>
public class FramingTests
{
    private static byte[] Hex(string s) => Convert.FromHexString(string.Concat(s.Where(Uri.IsHexDigit)));
    private static byte[] Ascii(string s) => System.Text.Encoding.ASCII.GetBytes(s);
    private static byte[] Cat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    // 00000028 00000003 01 00 0a17"containerd.task.v2.Task" 1207"Connect" 1a04 0a02"t2"
    private static readonly byte[] ConnectRequest = Cat(Hex("00000028 00000003 01 00 0a17"), Ascii("containerd.task.v2.Task"),
        Hex("1207"), Ascii("Connect"), Hex("1a04 0a02"), Ascii("t2"));
    private static readonly byte[] ConnectResponse = Hex("0000000a 00000003 02 00 1208 08d88a01 10f18a01");
    private static readonly byte[] WaitResponse = Hex("00000012 00000009 02 00 1210 0807 120c 08d590a6d806 108dff87a903");
    private static readonly byte[] EmptyResponse = Hex("00000000 00000011 02 00");
    private static readonly byte[] ErrorResponse = Cat(Hex("00000038 00000001 02 00 0a36 0802 1232"),
        Ascii("type with url runtimeoptions.v1.Options: not found"));

    [Fact]
    public void ConnectRequest_EncodesByteIdentically()
    {
        var request = new Request { Service = "containerd.task.v2.Task", Method = "Connect", Payload = ByteString.CopyFrom(Cat(Hex("0a02"), Ascii("t2"))) };
        Assert.Equal(ConnectRequest, TtrpcFraming.Encode(3, TtrpcMessageType.Request, 0, request.ToByteArray()));
    }

    [Fact]
    public async Task ConnectRequest_Parses()
    {
        var frame = await new FrameReader(new MemoryStream(ConnectRequest)).ReadFrameAsync();
        Assert.NotNull(frame);
        Assert.Equal(new FrameHeader(0x28, 3, TtrpcMessageType.Request, 0), frame.Header);
        var request = Request.Parser.ParseFrom(frame.Data.Span);
        Assert.Equal("containerd.task.v2.Task", request.Service);
        Assert.Equal("Connect", request.Method);
        Assert.Equal(0, request.TimeoutNano);
        Assert.Empty(request.Metadata);
        // ConnectRequest { string id = 1; } = "t2"
        Assert.Equal(Cat(Hex("0a02"), Ascii("t2")), request.Payload.ToByteArray());
        Assert.Equal(ConnectRequest[FrameHeader.Size..], request.ToByteArray());
    }

    [Fact]
    public void ConnectResponse_RoundTrips()
    {
        var (header, response) = ParseResponse(ConnectResponse);
        Assert.Equal(new FrameHeader(10, 3, TtrpcMessageType.Response, 0), header);
        Assert.Null(response.Status);
        var input = new CodedInputStream(response.Payload.ToByteArray());
        Assert.Equal(8u, input.ReadTag());
        Assert.Equal(17752u, input.ReadUInt32()); // shim_pid
        Assert.Equal(16u, input.ReadTag());
        Assert.Equal(17777u, input.ReadUInt32()); // task_pid
        Assert.Equal(ConnectResponse, TtrpcFraming.Encode(3, TtrpcMessageType.Response, 0,
            new Response { Payload = response.Payload }.ToByteArray()));
    }

    [Fact]
    public void WaitResponse_RoundTrips()
    {
        var (header, response) = ParseResponse(WaitResponse);
        Assert.Equal(9u, header.StreamId);
        Assert.Equal(18u, header.Length);
        var input = new CodedInputStream(response.Payload.ToByteArray());
        Assert.Equal(8u, input.ReadTag());
        Assert.Equal(7u, input.ReadUInt32()); // exit_status
        Assert.Equal(TtrpcFraming.Encode(9, TtrpcMessageType.Response, 0, response.ToByteArray()), WaitResponse);
    }

    [Fact]
    public void EmptyResponse_IsAZeroByteFrame()
    {
        Assert.Equal(EmptyResponse, TtrpcFraming.Encode(0x11, TtrpcMessageType.Response, 0, new Response().ToByteArray()));
        var (header, response) = ParseResponse(EmptyResponse);
        Assert.Equal(new FrameHeader(0, 0x11, TtrpcMessageType.Response, 0), header);
        Assert.Null(response.Status);
        Assert.True(response.Payload.IsEmpty);
    }

    [Fact]
    public void ErrorResponse_RoundTrips()
    {
        var response = new Response { Status = new Status { Code = (int)StatusCode.Unknown, Message = "type with url runtimeoptions.v1.Options: not found" } };
        Assert.Equal(ErrorResponse, TtrpcFraming.Encode(1, TtrpcMessageType.Response, 0, response.ToByteArray()));
        var (_, parsed) = ParseResponse(ErrorResponse);
        Assert.Equal(2, parsed.Status.Code);
        Assert.Equal("type with url runtimeoptions.v1.Options: not found", parsed.Status.Message);
    }

    [Fact]
    public void Header_IsBigEndian()
    {
        var bytes = new byte[10];
        new FrameHeader(0x01020304, 0x0a0b0c0d, 2, 0x80).WriteTo(bytes);
        Assert.Equal(Hex("01020304 0a0b0c0d 02 80"), bytes);
        Assert.Equal(new FrameHeader(0x01020304, 0x0a0b0c0d, 2, 0x80), FrameHeader.Read(bytes));
    }

    [Fact]
    public void Encode_RefusesOverFourMiB()
    {
        var ex = Assert.Throws<TtrpcException>(() => TtrpcFraming.Encode(1, 1, 0, new byte[FrameHeader.MaxDataLength + 1]));
        Assert.Equal(StatusCode.ResourceExhausted, ex.Code);
        Assert.Equal(FrameHeader.Size + FrameHeader.MaxDataLength, TtrpcFraming.Encode(1, 1, 0, new byte[FrameHeader.MaxDataLength]).Length);
    }

    [Fact]
    public async Task Reader_DiscardsOversizeFrameAndContinues()
    {
        var big = new byte[FrameHeader.Size + FrameHeader.MaxDataLength + 1];
        new FrameHeader(FrameHeader.MaxDataLength + 1, 5, 1, 0).WriteTo(big);
        var stream = new MemoryStream(Cat(big, EmptyResponse));
        var reader = new FrameReader(stream);
        var first = await reader.ReadFrameAsync();
        Assert.True(first!.Oversize);
        Assert.Equal(5u, first.Header.StreamId);
        Assert.True(first.Data.IsEmpty);
        var second = await reader.ReadFrameAsync();
        Assert.Equal(0x11u, second!.Header.StreamId);
        Assert.Null(await reader.ReadFrameAsync());
    }

    [Fact]
    public async Task Reader_TruncatedFrameIsAProtocolError()
    {
        await Assert.ThrowsAsync<TtrpcProtocolException>(async () => await new FrameReader(new MemoryStream(ConnectRequest[..5])).ReadFrameAsync());
        await Assert.ThrowsAsync<TtrpcProtocolException>(async () => await new FrameReader(new MemoryStream(ConnectRequest[..20])).ReadFrameAsync());
    }

    [Fact]
    public void TryParse_NeedsWholeFrame()
    {
        Assert.False(TtrpcFraming.TryParse(ConnectRequest.AsSpan(0, 9), out _, out _));
        Assert.False(TtrpcFraming.TryParse(ConnectRequest.AsSpan(0, ConnectRequest.Length - 1), out _, out _));
        Assert.True(TtrpcFraming.TryParse(Cat(ConnectRequest, EmptyResponse), out var frame, out var consumed));
        Assert.Equal(ConnectRequest.Length, consumed);
        Assert.Equal(3u, frame!.Header.StreamId);
    }

    private static (FrameHeader, Response) ParseResponse(byte[] bytes)
    {
        Assert.True(TtrpcFraming.TryParse(bytes, out var frame, out var consumed));
        Assert.Equal(bytes.Length, consumed);
        return (frame!.Header, Response.Parser.ParseFrom(frame.Data.Span));
    }
}
