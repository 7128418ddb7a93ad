using System.Text;
using Google.Protobuf;
using Sandbox.AgentProtocol.V1;
using Sandbox.Ttrpc;

namespace Sandbox.Isolation.Agent;

/// <summary>
/// Host-side typed client of the sandbox agent (service sandbox.agent.v1.Agent over ttrpc). The agent is untrusted:
/// every answer is checked (sizes within what was asked, pids positive, values in range) and a violation throws
/// <see cref="AgentProtocolException"/>. Error statuses from the agent surface as <see cref="TtrpcException"/>
/// (NOT_FOUND for a missing binary or unknown exec, etc.); a lost connection as TtrpcException UNAVAILABLE.
/// Requests are validated before sending (ArgumentException), so a bad request never reaches the agent.
/// </summary>
public sealed class AgentClient : IAsyncDisposable
{
    public const string ServiceName = "sandbox.agent.v1.Agent";

    /// <summary>The most data one ReadOutput / ReadFile / WriteStdin / WriteFile call carries.</summary>
    public const int MaxChunkBytes = 1 << 20;

    public const int MaxPathBytes = 4096;

    /// <summary>The most entries one ListDir call returns.</summary>
    public const int MaxDirEntries = 10000;

    /// <summary>The longest an Exec may wait for its process's end (<see cref="ExecRequest.WaitMs"/>).</summary>
    public const uint MaxExecWaitMs = 1000;

    /// <summary>Each stream's output in an Exec's reply when <see cref="ExecRequest.MaxOutputBytes"/> is 0.</summary>
    public const int DefaultExecOutputBytes = 64 * 1024;

    private const int MaxNameBytes = 255;
    private const int MaxStringChars = 1024;
    private const int MaxBootStages = 32;

    private readonly TtrpcClient _client;

    private AgentClient(TtrpcClient client) => _client = client;

    /// <summary>Wraps a connected stream (unix socket to the agent, or a virtio-serial chardev socket). Owns it.</summary>
    public static AgentClient Create(Stream connected) => Create(connected, 1);

    /// <summary>As <see cref="Create(Stream)"/>, with ttrpc stream ids starting at <paramref name="firstStreamId"/>
    /// (odd): the agent refuses ids it has already seen on this connection.</summary>
    public static AgentClient Create(Stream connected, uint firstStreamId)
    {
        ArgumentNullException.ThrowIfNull(connected);
        return new AgentClient(new TtrpcClient(connected, firstStreamId));
    }

    /// <summary>Completes when the connection to the agent is gone.</summary>
    public Task Completion => _client.Completion;

    public async Task<PingResponse> PingAsync(CancellationToken cancellationToken = default)
    {
        var r = await CallAsync("Ping", new PingRequest(), PingResponse.Parser, cancellationToken).ConfigureAwait(false);
        Check(r.Pid > 0, $"Ping: pid {r.Pid} is not positive");
        Check(r.Version.Length <= MaxStringChars && r.Kernel.Length <= MaxStringChars, "Ping: version or kernel string too long");
        Check(r.BootStages.Count <= MaxBootStages && r.BootStages.All(s => s.Name.Length is > 0 and <= 32 && s.BoottimeUs >= 0),
            $"Ping: more than {MaxBootStages} boot stages, or one with a bad name or time");
        return r;
    }

    public async Task<ExecResponse> ExecAsync(ExecRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ValidateExecId(request.ExecId);
        if (request.Argv.Count == 0 || request.Argv[0].Length == 0) throw new ArgumentException("argv must name a program", nameof(request));
        if (request.Cwd.Length > 0) ValidatePath(request.Cwd, "cwd");
        if (request.Tty is { } tty) ValidateTtySize(tty);
        if (request.WaitMs > MaxExecWaitMs) throw new ArgumentException($"wait_ms must be at most {MaxExecWaitMs}", nameof(request));
        if (request.WaitMs > 0 && (request.Stdin || request.Tty is not null || request.Hold))
            throw new ArgumentException("wait_ms is not served with stdin, a terminal or hold", nameof(request));
        var r = await CallAsync("Exec", request, ExecResponse.Parser, cancellationToken).ConfigureAwait(false);
        Check(r.Pid > 0, $"Exec: pid {r.Pid} is not positive");
        // What an Exec that waited may carry (its end, its output) is bounded as Wait's and ReadOutput's answers are; an
        // Exec that did not wait carries none of it.
        int max = request.WaitMs == 0 ? 0 : request.MaxOutputBytes == 0 ? DefaultExecOutputBytes : Limit(request.MaxOutputBytes);
        Check(r.Stdout.Length <= max && r.Stderr.Length <= max, $"Exec: {Math.Max(r.Stdout.Length, r.Stderr.Length)} bytes of output returned, at most {max} were asked for");
        Check(request.WaitMs > 0 || (r.Exit is null && !r.StdoutEof && !r.StderrEof), "Exec: an end reported for an exec that did not ask to wait");
        if (r.Exit is { } exit)
            CheckExit("Exec", exit);
        return r;
    }

    public async Task<ReadOutputResponse> ReadOutputAsync(ReadOutputRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ValidateExecId(request.ExecId);
        if (request.Stream is not (OutputStream.Stdout or OutputStream.Stderr)) throw new ArgumentException("stream must be stdout or stderr", nameof(request));
        var r = await CallAsync("ReadOutput", request, ReadOutputResponse.Parser, cancellationToken).ConfigureAwait(false);
        int max = Limit(request.MaxBytes);
        Check(r.Data.Length <= max, $"ReadOutput: {r.Data.Length} bytes returned, at most {max} were asked for");
        return r;
    }

    /// <summary>Long-polls up to <paramref name="maxBytes"/> (0 = 1 MiB) of a stream's output.</summary>
    public Task<ReadOutputResponse> ReadOutputAsync(string execId, OutputStream stream, int maxBytes = MaxChunkBytes, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        return ReadOutputAsync(new ReadOutputRequest { ExecId = execId, Stream = stream, MaxBytes = (uint)maxBytes }, cancellationToken);
    }

    public async Task WriteStdinAsync(WriteStdinRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ValidateExecId(request.ExecId);
        if (request.Data.Length > MaxChunkBytes) throw new ArgumentException("stdin data over 1 MiB per call", nameof(request));
        await CallAsync("WriteStdin", request, WriteStdinResponse.Parser, cancellationToken).ConfigureAwait(false);
    }

    public Task WriteStdinAsync(string execId, ReadOnlyMemory<byte> data, bool close = false, CancellationToken cancellationToken = default) =>
        WriteStdinAsync(new WriteStdinRequest { ExecId = execId, Data = ByteString.CopyFrom(data.Span), Close = close }, cancellationToken);

    public async Task SignalAsync(SignalRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ValidateExecId(request.ExecId);
        if (request.Signal is < 1 or > 64) throw new ArgumentOutOfRangeException(nameof(request), "signal must be 1..64");
        await CallAsync("Signal", request, SignalResponse.Parser, cancellationToken).ConfigureAwait(false);
    }

    public Task SignalAsync(string execId, int signal, CancellationToken cancellationToken = default) =>
        SignalAsync(new SignalRequest { ExecId = execId, Signal = signal }, cancellationToken);

    /// <summary>Starts exec <paramref name="execId"/>'s first stage ahead of its request (container tier): an Exec with
    /// <see cref="ExecRequest.Prepared"/> and the same id runs its program later. Returns its pid inside the sandbox.</summary>
    public async Task<int> PrepareAsync(string execId, CancellationToken cancellationToken = default)
    {
        ValidateExecId(execId);
        var r = await CallAsync("Prepare", new PrepareRequest { ExecId = execId }, ExecResponse.Parser, cancellationToken).ConfigureAwait(false);
        Check(r.Pid > 0, $"Prepare: pid {r.Pid} is not positive");
        return r.Pid;
    }

    /// <summary>Lets an exec started with <see cref="ExecRequest.Hold"/> run its program.</summary>
    public async Task ReleaseAsync(string execId, CancellationToken cancellationToken = default)
    {
        ValidateExecId(execId);
        await CallAsync("Release", new ReleaseRequest { ExecId = execId }, ReleaseResponse.Parser, cancellationToken).ConfigureAwait(false);
    }

    public async Task ResizeTtyAsync(ResizeTtyRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ValidateExecId(request.ExecId);
        ValidateTtySize(request.Size ?? throw new ArgumentException("size is required", nameof(request)));
        await CallAsync("ResizeTty", request, ResizeTtyResponse.Parser, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Returns once the process has exited (not waiting for its output to be drained: use ReadOutput to eof).</summary>
    public async Task<WaitResponse> WaitAsync(WaitRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ValidateExecId(request.ExecId);
        var r = await CallAsync("Wait", request, WaitResponse.Parser, cancellationToken).ConfigureAwait(false);
        CheckExit("Wait", r);
        return r;
    }

    private static void CheckExit(string method, WaitResponse r)
    {
        Check(r.Signal is >= 0 and <= 64, $"{method}: signal {r.Signal} out of range");
        Check(r.ExitCode is >= 0 and <= 255, $"{method}: exit code {r.ExitCode} out of range");
        Check(r.Signal == 0 || r.ExitCode == 0, $"{method}: both an exit code and a signal");
        Check(r.UserCpuUsec >= 0 && r.SystemCpuUsec >= 0 && r.MaxRssKib >= 0, $"{method}: negative usage");
    }

    public Task<WaitResponse> WaitAsync(string execId, CancellationToken cancellationToken = default) =>
        WaitAsync(new WaitRequest { ExecId = execId }, cancellationToken);

    public async Task<ReadFileResponse> ReadFileAsync(ReadFileRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ValidatePath(request.Path, "path");
        ArgumentOutOfRangeException.ThrowIfNegative(request.Offset);
        var r = await CallAsync("ReadFile", request, ReadFileResponse.Parser, cancellationToken).ConfigureAwait(false);
        int max = Limit(request.MaxBytes);
        Check(r.Data.Length <= max, $"ReadFile: {r.Data.Length} bytes returned, at most {max} were asked for");
        Check(r.Size >= 0, $"ReadFile: negative size {r.Size}");
        return r;
    }

    public async Task WriteFileAsync(WriteFileRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ValidatePath(request.Path, "path");
        ArgumentOutOfRangeException.ThrowIfNegative(request.Offset);
        if (request.Data.Length > MaxChunkBytes) throw new ArgumentException("file data over 1 MiB per call", nameof(request));
        if (request.Mode > 0xfff) throw new ArgumentOutOfRangeException(nameof(request), "mode has bits beyond 07777");
        await CallAsync("WriteFile", request, WriteFileResponse.Parser, cancellationToken).ConfigureAwait(false);
    }

    public async Task MakeDirAsync(MakeDirRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ValidatePath(request.Path, "path");
        if (request.Mode > 0x1ff) throw new ArgumentOutOfRangeException(nameof(request), "mode has bits beyond 0777");
        await CallAsync("MakeDir", request, MakeDirResponse.Parser, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One directory's entries. The answer is checked: at most the entries asked for, each a single non-empty
    /// path component, non-negative sizes, a known type, and a symlink target only on symlinks.</summary>
    public async Task<ListDirResponse> ListDirAsync(ListDirRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ValidatePath(request.Path, "path");
        if (request.MaxEntries > MaxDirEntries) throw new ArgumentOutOfRangeException(nameof(request), $"max_entries must be at most {MaxDirEntries}");
        var r = await CallAsync("ListDir", request, ListDirResponse.Parser, cancellationToken).ConfigureAwait(false);
        int max = request.MaxEntries == 0 ? MaxDirEntries : (int)request.MaxEntries;
        Check(r.Entries.Count <= max, $"ListDir: {r.Entries.Count} entries returned, at most {max} were asked for");
        foreach (var e in r.Entries)
        {
            Check(e.Name.Length > 0 && !e.Name.Contains('/') && !e.Name.Contains('\0') && e.Name is not ("." or "..")
                && Encoding.UTF8.GetByteCount(e.Name) <= MaxNameBytes, "ListDir: an entry name is not a single path component");
            Check(e.Size >= 0, $"ListDir: negative size {e.Size}");
            Check(e.Type is DirEntryType.File or DirEntryType.Dir or DirEntryType.Symlink or DirEntryType.Other, $"ListDir: unknown entry type {e.Type}");
            Check(e.Mode <= 0xfff, $"ListDir: mode {e.Mode} has bits beyond 07777");
            Check(!e.HasSymlinkTarget || (e.Type == DirEntryType.Symlink && Encoding.UTF8.GetByteCount(e.SymlinkTarget) <= MaxPathBytes),
                "ListDir: a symlink target on a non-symlink, or longer than 4096 bytes");
        }
        return r;
    }

    /// <summary>A pod's container in a microVM guest: its cgroup's counters (see agent.proto).</summary>
    public async Task<StatsResponse> ContainerStatsAsync(string containerId, CancellationToken cancellationToken = default)
    {
        var r = await CallAsync("Stats", new StatsRequest { ContainerId = containerId }, StatsResponse.Parser, cancellationToken).ConfigureAwait(false);
        Check(r.MemoryBytes >= 0 && r.MemoryPeakBytes >= 0 && r.CpuUsec >= 0 && r.Tasks >= 0 && r.OomKills >= 0, "Stats: negative value");
        return r;
    }

    public async Task<StatsResponse> StatsAsync(CancellationToken cancellationToken = default)
    {
        var r = await CallAsync("Stats", new StatsRequest(), StatsResponse.Parser, cancellationToken).ConfigureAwait(false);
        Check(r.Processes >= 0 && r.MemoryRssKib >= 0, "Stats: negative value");
        return r;
    }

    /// <summary>Asks the agent to SIGKILL its processes and exit. The connection closes after the answer.</summary>
    public async Task ShutdownAsync(CancellationToken cancellationToken = default) =>
        await CallAsync("Shutdown", new ShutdownRequest(), ShutdownResponse.Parser, cancellationToken).ConfigureAwait(false);

    /// <summary>microVM guests: builds the sandbox root, limits and identity inside the guest (see agent.proto).</summary>
    public async Task SetupGuestAsync(SetupGuestRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        foreach (var m in request.Mounts) ValidatePath(m.Path, "mount path");
        foreach (var l in request.Symlinks) ValidatePath(l.Path, "symlink path");
        foreach (var d in request.WritableDirs) ValidatePath(d, "writable dir");
        if (request.RandomSeed.Length > 512) throw new ArgumentException("random seed over 512 bytes", nameof(request));
        await CallAsync("SetupGuest", request, SetupGuestResponse.Parser, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>microVM guests of a pod: a second container in the guest (see agent.proto).</summary>
    public async Task<AddContainerResponse> AddContainerAsync(AddContainerRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        foreach (var d in request.WritableDirs) ValidatePath(d, "writable dir");
        var response = await CallAsync("AddContainer", request, AddContainerResponse.Parser, cancellationToken).ConfigureAwait(false);
        if (response.HolderPid <= 1)
            throw new AgentProtocolException($"agent reported an invalid holder pid {response.HolderPid} for container {request.ContainerId}");
        return response;
    }

    /// <summary>One container of a pod's guest acted on alone (its cgroup there); LIST's pids are checked positive and
    /// never the holder's 1.</summary>
    public async Task<ControlContainerResponse> ControlContainerAsync(ControlContainerRequest request, CancellationToken cancellationToken = default)
    {
        var r = await CallAsync("ControlContainer", request, ControlContainerResponse.Parser, cancellationToken).ConfigureAwait(false);
        Check(r.Pids.All(p => p > 1), "ControlContainer: a pid that is not a workload process's");
        return r;
    }

    public async Task RemoveContainerAsync(string containerId, CancellationToken cancellationToken = default) =>
        await CallAsync("RemoveContainer", new RemoveContainerRequest { ContainerId = containerId }, RemoveContainerResponse.Parser, cancellationToken)
            .ConfigureAwait(false);

    public ValueTask DisposeAsync() => _client.DisposeAsync();

    private async Task<TResponse> CallAsync<TRequest, TResponse>(string method, TRequest request, MessageParser<TResponse> parser, CancellationToken cancellationToken)
        where TRequest : IMessage<TRequest>
        where TResponse : IMessage<TResponse>
    {
        try
        {
            return await _client.CallAsync(ServiceName, method, request, parser, cancellationToken).ConfigureAwait(false);
        }
        catch (TtrpcProtocolException e)
        {
            throw new AgentProtocolException($"{method}: {e.Message}", e);
        }
    }

    private static int Limit(uint maxBytes) => maxBytes == 0 || maxBytes > MaxChunkBytes ? MaxChunkBytes : (int)maxBytes;

    private static void Check(bool condition, string violation)
    {
        if (!condition) throw new AgentProtocolException("agent protocol violation: " + violation);
    }

    private static void ValidateTtySize(TtySize size)
    {
        if (size.Rows is 0 or > ushort.MaxValue || size.Cols is 0 or > ushort.MaxValue)
            throw new ArgumentException($"terminal size {size.Rows}x{size.Cols}: rows and cols must be 1..65535", nameof(size));
    }

    private static void ValidateExecId(string execId)
    {
        if (execId.Length is 0 or > 64) throw new ArgumentException("exec_id must be 1..64 characters of [A-Za-z0-9_-]", nameof(execId));
        foreach (char c in execId)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
                throw new ArgumentException("exec_id must be 1..64 characters of [A-Za-z0-9_-]", nameof(execId));
        }
    }

    private static void ValidatePath(string path, string what)
    {
        if (path.Length == 0 || path[0] != '/') throw new ArgumentException($"{what} must be absolute", nameof(path));
        if (path.Contains('\0')) throw new ArgumentException($"{what} contains NUL", nameof(path));
        if (Encoding.UTF8.GetByteCount(path) > MaxPathBytes) throw new ArgumentException($"{what} longer than 4096 bytes", nameof(path));
    }
}
