using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace Sandbox.Isolation.MicroVm.Qmp;

/// <summary>An asynchronous QMP event (SHUTDOWN, STOP, RESUME, VSERPORT_CHANGE, ...).</summary>
public sealed record QmpEvent(string Name, JsonObject? Data);

/// <summary>What query-status answers.</summary>
public sealed record QmpStatus(bool Running, string Status);

/// <summary>A QMP error answer: the command was understood and refused.</summary>
public sealed class QmpException(string command, string errorClass, string description)
    : SandboxException(SandboxErrorCode.Internal, $"QMP {command} failed: {errorClass}: {description}")
{
    public string ErrorClass { get; } = errorClass;
}

/// <summary>
/// QEMU's machine protocol over a connected unix socket: line-delimited JSON. On connect QEMU sends a greeting; the
/// client answers qmp_capabilities. Every command carries an id and waits for the answer with that id: an answer that
/// arrives after its caller gave up (cancellation) matches no one and is dropped, never taken as the next command's.
/// A command goes out as one whole line under a write lock and with no cancellation token, so a cancelled caller
/// cannot leave half a line behind for the next one. Everything else that arrives is an event, kept in a bounded
/// queue. Lines are bounded (<see cref="MaxLineBytes"/>); JSON is read with JsonNode and written with Utf8JsonWriter
/// (no reflection). QEMU is trusted less than the host: a malformed line fails the client. When the connection ends,
/// pending and later commands fail as Unavailable with the reason the owner knows (QEMU's exit and console tail).
/// </summary>
public sealed class QmpClient : IAsyncDisposable
{
    public const int MaxLineBytes = 1 << 20;
    private const int MaxQueuedEvents = 256;

    private readonly Stream _stream;
    private readonly Func<string>? _whyClosed;
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private readonly ConcurrentDictionary<long, TaskCompletionSource<JsonObject>> _pending = new();
    private readonly Channel<QmpEvent> _events = Channel.CreateBounded<QmpEvent>(new BoundedChannelOptions(MaxQueuedEvents)
    {
        FullMode = BoundedChannelFullMode.DropOldest,
    });
    private readonly TaskCompletionSource _shutdown = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private Task? _reader;
    private long _nextId;
    private volatile bool _closed;
    private int _disposed;

    private QmpClient(Stream stream, Func<string>? whyClosed)
    {
        _stream = stream;
        _whyClosed = whyClosed;
    }

    /// <summary>Completes when QEMU reports SHUTDOWN or the connection closes.</summary>
    public Task Shutdown => _shutdown.Task;

    /// <summary>Reads the greeting and negotiates capabilities; owns <paramref name="stream"/>.
    /// <paramref name="whyClosed"/> tells, when the connection ends, why (e.g. QEMU's exit status and console tail).</summary>
    public static async Task<QmpClient> ConnectAsync(Stream stream, CancellationToken cancellationToken, Func<string>? whyClosed = null)
    {
        var client = new QmpClient(stream, whyClosed);
        try
        {
            var greeting = await client.ReadMessageAsync(cancellationToken).ConfigureAwait(false)
                ?? throw client.Closed("the connection closed before the greeting");
            if (greeting["QMP"] is not JsonObject)
                throw new SandboxException(SandboxErrorCode.Internal, $"QMP: expected a greeting, got {Truncate(greeting.ToJsonString())}");
            client._reader = client.ReadLoopAsync();
            await client.ExecuteAsync("qmp_capabilities", null, cancellationToken).ConfigureAwait(false);
            return client;
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async Task<QmpStatus> QueryStatusAsync(CancellationToken cancellationToken)
    {
        var r = await ExecuteAsync("query-status", null, cancellationToken).ConfigureAwait(false);
        var obj = r as JsonObject ?? throw Malformed("query-status", r);
        return new QmpStatus(obj["running"]?.GetValue<bool>() ?? false, obj["status"]?.GetValue<string>() ?? "unknown");
    }

    public Task StopAsync(CancellationToken cancellationToken) => ExecuteAsync("stop", null, cancellationToken);

    public Task ContAsync(CancellationToken cancellationToken) => ExecuteAsync("cont", null, cancellationToken);

    /// <summary>Asks QEMU to exit. The answer may not arrive (QEMU closes the socket); that is success too.</summary>
    public async Task QuitAsync(CancellationToken cancellationToken)
    {
        try
        {
            await ExecuteAsync("quit", null, cancellationToken).ConfigureAwait(false);
        }
        catch (SandboxException e) when (e.Code == SandboxErrorCode.Unavailable)
        {
        }
    }

    /// <summary>migrate-set-capabilities with the named capabilities switched on (e.g. x-ignore-shared).</summary>
    public Task SetMigrationCapabilitiesAsync(IReadOnlyList<string> capabilities, CancellationToken cancellationToken) =>
        ExecuteAsync("migrate-set-capabilities", w =>
        {
            w.WriteStartArray("capabilities");
            foreach (var c in capabilities)
            {
                w.WriteStartObject();
                w.WriteString("capability", c);
                w.WriteBoolean("state", true);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }, cancellationToken);

    public Task MigrateAsync(string uri, CancellationToken cancellationToken) =>
        ExecuteAsync("migrate", w => w.WriteString("uri", uri), cancellationToken);

    public Task MigrateIncomingAsync(string uri, CancellationToken cancellationToken) =>
        ExecuteAsync("migrate-incoming", w => w.WriteString("uri", uri), cancellationToken);

    /// <summary>query-migrate's status: none, setup, active, completed, failed, ...</summary>
    public async Task<string> QueryMigrationStatusAsync(CancellationToken cancellationToken)
    {
        var r = await ExecuteAsync("query-migrate", null, cancellationToken).ConfigureAwait(false);
        return (r as JsonObject)?["status"]?.GetValue<string>() ?? "none";
    }

    /// <summary>Waits for the next event named <paramref name="name"/> that satisfies <paramref name="match"/>;
    /// other events are dropped.</summary>
    public async Task<QmpEvent> WaitForEventAsync(string name, Func<QmpEvent, bool>? match, CancellationToken cancellationToken)
    {
        while (true)
        {
            QmpEvent e;
            try
            {
                e = await _events.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ChannelClosedException)
            {
                throw Closed($"the connection closed while waiting for {name}");
            }
            if (e.Name == name && (match is null || match(e)))
                return e;
        }
    }

    /// <summary>Sends one command and returns its "return" value. Commands may overlap: each waits for its own id.</summary>
    private async Task<JsonNode?> ExecuteAsync(string command, Action<Utf8JsonWriter>? arguments, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (_closed)
            throw Closed($"{command}: the connection to QEMU is closed");
        var id = Interlocked.Increment(ref _nextId);
        var line = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(line))
        {
            w.WriteStartObject();
            w.WriteString("execute", command);
            if (arguments is not null)
            {
                w.WriteStartObject("arguments");
                arguments(w);
                w.WriteEndObject();
            }
            w.WriteNumber("id", id);
            w.WriteEndObject();
        }
        line.Write("\n"u8);
        var pending = new TaskCompletionSource<JsonObject>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = pending;
        try
        {
            await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                // No token: a write cut short by a cancellation would leave half a line for the next command.
                await _stream.WriteAsync(line.WrittenMemory, CancellationToken.None).ConfigureAwait(false);
                await _stream.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                throw Closed($"{command}: the connection to QEMU is gone", e);
            }
            finally
            {
                _writeGate.Release();
            }
            // The reader may have ended between the check above and the registration: fail rather than wait forever.
            if (_closed)
                pending.TrySetException(Closed($"{command}: the connection to QEMU closed"));
            var answer = await pending.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (answer["error"] is JsonObject error)
                throw new QmpException(command, error["class"]?.GetValue<string>() ?? "?", error["desc"]?.GetValue<string>() ?? "?");
            return answer["return"];
        }
        finally
        {
            // A late answer for this id now matches nothing and is dropped by the reader.
            _pending.TryRemove(id, out _);
        }
    }

    private async Task ReadLoopAsync()
    {
        try
        {
            while (await ReadMessageAsync(_stop.Token).ConfigureAwait(false) is { } message)
            {
                if (message["event"]?.GetValue<string>() is { } name)
                {
                    if (name == "SHUTDOWN") _shutdown.TrySetResult();
                    _events.Writer.TryWrite(new QmpEvent(name, message["data"] as JsonObject));
                }
                else if (message.ContainsKey("return") || message.ContainsKey("error"))
                {
                    if (message["id"] is JsonValue idValue && idValue.TryGetValue<long>(out var id) && _pending.TryRemove(id, out var pending))
                        pending.TrySetResult(message);
                    // else: the answer to a command whose caller gave up; nobody waits for it.
                }
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or SandboxException or ObjectDisposedException)
        {
        }
        finally
        {
            _closed = true;
            _shutdown.TrySetResult();
            _events.Writer.TryComplete();
            foreach (var id in _pending.Keys)
                if (_pending.TryRemove(id, out var pending))
                    pending.TrySetException(Closed("the connection to QEMU closed"));
        }
    }

    /// <summary>Unavailable, with what the owner knows about why (QEMU's exit, its console).</summary>
    private SandboxException Closed(string what, Exception? inner = null)
    {
        string? why = null;
        try
        {
            why = _whyClosed?.Invoke();
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
        }
        return new SandboxException(SandboxErrorCode.Unavailable, $"QMP: {what}{(string.IsNullOrEmpty(why) ? "" : ": " + why)}", inner);
    }

    private readonly byte[] _readBuffer = new byte[8192];
    private int _readStart;
    private int _readEnd;

    /// <summary>One JSON object per line; null at end of stream.</summary>
    private async Task<JsonObject?> ReadMessageAsync(CancellationToken cancellationToken)
    {
        var line = new ArrayBufferWriter<byte>();
        while (true)
        {
            var available = _readBuffer.AsSpan(_readStart, _readEnd - _readStart);
            var newline = available.IndexOf((byte)'\n');
            var take = newline >= 0 ? available[..newline] : available;
            if (line.WrittenCount + take.Length > MaxLineBytes)
                throw new SandboxException(SandboxErrorCode.Internal, $"QMP: a line longer than {MaxLineBytes} bytes");
            line.Write(take);
            if (newline >= 0)
            {
                _readStart += newline + 1;
                if (line.WrittenSpan.Trim((byte)'\r').IsEmpty)
                {
                    line.Clear();
                    continue;
                }
                try
                {
                    return JsonNode.Parse(line.WrittenSpan) as JsonObject ?? throw new JsonException("not an object");
                }
                catch (JsonException e)
                {
                    throw new SandboxException(SandboxErrorCode.Internal, $"QMP: malformed line: {e.Message}", e);
                }
            }
            _readStart = 0;
            _readEnd = await _stream.ReadAsync(_readBuffer, cancellationToken).ConfigureAwait(false);
            if (_readEnd == 0) return null;
        }
    }

    private static SandboxException Malformed(string command, JsonNode? answer) =>
        new(SandboxErrorCode.Internal, $"QMP {command}: unexpected answer {Truncate(answer?.ToJsonString() ?? "null")}");

    private static string Truncate(string s) => s.Length <= 200 ? s : s[..200] + "...";

    /// <summary>Closes the connection; what is pending fails as Unavailable. Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _closed = true;
        await _stop.CancelAsync().ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
        if (_reader is not null)
            await _reader.ConfigureAwait(false);
        else
            foreach (var id in _pending.Keys)
                if (_pending.TryRemove(id, out var pending))
                    pending.TrySetException(Closed("the client was disposed"));
        // _stop and _writeGate are not disposed: a command racing with this dispose may still touch them.
    }
}
