using System.Net.Sockets;
using System.Threading.Channels;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;
using Sandbox.KataShim.Protocol.EventService;
using Sandbox.Ttrpc;

namespace Sandbox.KataShim.Events;

/// <summary>Task events to containerd, in the order they were published: one channel, one forwarder, one ttrpc
/// connection to containerd's ttrpc socket (TTRPC_ADDRESS), re-dialled when it breaks. Type URLs are the bare full
/// names containerd's subscribers decode (`containerd.events.TaskExit`, never type.googleapis.com/...).
/// containerd works without events (`ctr run` uses Wait), so an event that cannot be delivered after the retries is
/// logged and dropped rather than blocking the task.</summary>
internal sealed class EventForwarder : IAsyncDisposable
{
    private const string Service = "containerd.services.events.ttrpc.v1.Events";
    private const int Attempts = 5;

    private readonly Channel<Envelope> _queue = Channel.CreateUnbounded<Envelope>(new UnboundedChannelOptions { SingleReader = true });
    private readonly string? _ttrpcAddress;
    private readonly string _namespace;
    private readonly ILogger _logger;
    private readonly Task _forwarding;
    private TtrpcClient? _client;

    public EventForwarder(string? ttrpcAddress, string ns, ILogger logger)
    {
        _ttrpcAddress = string.IsNullOrEmpty(ttrpcAddress) ? null : Cli.ShimArguments.StripUnix(ttrpcAddress);
        _namespace = ns;
        _logger = logger;
        _forwarding = Task.Run(ForwardAllAsync);
    }

    /// <summary>Queues an event; the topic is e.g. "/tasks/exit".</summary>
    public void Publish(string topic, IMessage message) =>
        _queue.Writer.TryWrite(new Envelope
        {
            Timestamp = Timestamp.FromDateTime(DateTime.UtcNow),
            Namespace = _namespace,
            Topic = topic,
            Event = new Any { TypeUrl = TypeUrls.Of(message), Value = message.ToByteString() },
        });

    private async Task ForwardAllAsync()
    {
        await foreach (var envelope in _queue.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            if (_ttrpcAddress is null)
                continue;
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    _client ??= await ConnectAsync(_ttrpcAddress).ConfigureAwait(false);
                    await _client.CallAsync(Service, "Forward", new ForwardRequest { Envelope = envelope }, Empty.Parser,
                        new TtrpcCallOptions
                        {
                            Timeout = TimeSpan.FromSeconds(5),
                            Metadata = [new("containerd-namespace-ttrpc", _namespace)],
                        }).ConfigureAwait(false);
                    break;
                }
                catch (Exception e) when (e is IOException or SocketException or TtrpcException or ObjectDisposedException or OperationCanceledException)
                {
                    if (_client is not null)
                        await _client.DisposeAsync().ConfigureAwait(false);
                    _client = null;
                    if (attempt == Attempts)
                    {
                        ShimLog.EventDropped(_logger, envelope.Topic, attempt, e.Message);
                        break;
                    }
                    // containerd restarting: its socket comes back within seconds.
                    await Task.Delay(TimeSpan.FromSeconds(attempt)).ConfigureAwait(false);
                }
            }
        }
    }

    private static async Task<TtrpcClient> ConnectAsync(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path)).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new TtrpcClient(new NetworkStream(socket, ownsSocket: true));
    }

    /// <summary>Delivers what is queued (bounded by the retries), then closes the connection.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _forwarding.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (_client is not null)
            await _client.DisposeAsync().ConfigureAwait(false);
    }
}
