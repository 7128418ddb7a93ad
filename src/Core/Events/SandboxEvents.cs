using System.Threading.Channels;

namespace Sandbox.Core;

/// <summary>The one event stream of Core: one bounded inbox written only by Core's verbs (the publisher), one
/// dispatcher that fans every event out, in order, to each subscriber's own bounded queue. A subscriber that falls
/// behind loses its oldest events (counted in <see cref="Subscription.Dropped"/>); it never slows Core down, and the
/// publisher only waits if the dispatcher itself is behind.</summary>
public sealed class SandboxEvents : IAsyncDisposable
{
    public const int InboxCapacity = 1024;

    private readonly Channel<SandboxEvent> _inbox = Channel.CreateBounded<SandboxEvent>(new BoundedChannelOptions(InboxCapacity)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.Wait,
    });
    private readonly Lock _lock = new();
    private Subscription[] _subscribers = [];
    private readonly Task _dispatcher;

    public SandboxEvents() => _dispatcher = Task.Run(DispatchAsync);

    /// <summary>A new subscriber; it sees every event published after this call. Dispose it to unsubscribe.</summary>
    public Subscription Subscribe(int capacity = 256)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        var subscription = new Subscription(this, capacity);
        lock (_lock)
            _subscribers = [.. _subscribers, subscription];
        return subscription;
    }

    internal async ValueTask PublishAsync(SandboxEvent e)
    {
        try
        {
            await _inbox.Writer.WriteAsync(e).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            // Core is shutting down (a sandbox died during it): no subscriber is left to tell.
        }
    }

    private async Task DispatchAsync()
    {
        await foreach (var e in _inbox.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            foreach (var s in Volatile.Read(ref _subscribers))
                s.Offer(e);
        }
        foreach (var s in Volatile.Read(ref _subscribers))
            s.Complete();
    }

    private void Remove(Subscription subscription)
    {
        lock (_lock)
            _subscribers = [.. _subscribers.Where(s => s != subscription)];
    }

    /// <summary>Delivers what was published, then ends every subscription.</summary>
    public async ValueTask DisposeAsync()
    {
        _inbox.Writer.TryComplete();
        await _dispatcher.ConfigureAwait(false);
    }

    public sealed class Subscription : IDisposable
    {
        private readonly SandboxEvents _owner;
        private readonly Channel<SandboxEvent> _queue;
        private long _dropped;

        internal Subscription(SandboxEvents owner, int capacity)
        {
            _owner = owner;
            _queue = Channel.CreateBounded<SandboxEvent>(new BoundedChannelOptions(capacity)
            {
                SingleWriter = true,
                FullMode = BoundedChannelFullMode.DropOldest,
            }, _ => Interlocked.Increment(ref _dropped));
        }

        public ChannelReader<SandboxEvent> Reader => _queue.Reader;

        /// <summary>Events this subscriber lost because it fell behind.</summary>
        public long Dropped => Interlocked.Read(ref _dropped);

        internal void Offer(SandboxEvent e) => _queue.Writer.TryWrite(e);

        internal void Complete() => _queue.Writer.TryComplete();

        public void Dispose()
        {
            _owner.Remove(this);
            _queue.Writer.TryComplete();
        }
    }
}
